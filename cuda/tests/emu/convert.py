# Rewrites CUDA launches `kernel<<<grid, block, smem, stream>>>(args);` into
# `emu::launch([&] { kernel(args); }, grid, block, smem, stream);` so the .cu
# sources compile with g++ against the emulation in cuda_runtime.h.
# Usage: convert.py in.cu out.cc
import re, sys
src = open(sys.argv[1]).read()
out = []
i = 0
while True:
    j = src.find('<<<', i)
    if j < 0:
        out.append(src[i:]); break
    ls = src.rfind('\n', 0, j) + 1
    indent = len(src[ls:j]) - len(src[ls:j].lstrip())
    kexpr = src[ls + indent:j]
    if kexpr.lstrip().startswith('//') or '//' in kexpr:
        nl = src.find('\n', j)
        out.append(src[i:nl]); i = nl; continue
    k = src.find('>>>', j)
    cfg = src[j + 3:k]
    assert src[k + 3] == '('
    depth = 0; m = k + 3
    while True:
        c = src[m]
        if c == '(': depth += 1
        elif c == ')':
            depth -= 1
            if depth == 0: break
        m += 1
    args = src[k + 4:m]
    assert src[m + 1] == ';', src[m:m+20]
    out.append(src[i:ls + indent])
    out.append('emu::launch([&] { %s(%s); }, %s);' % (kexpr, args, cfg))
    i = m + 2
open(sys.argv[2], 'w').write(''.join(out))
