#!/usr/bin/env bash
# Runs cuda/tests/test_cuda.cc against a CPU emulation of the CUDA kernels, for
# machines without a GPU. It checks index arithmetic, bounds, barriers and
# warp-shuffle logic of cuda/*.cu (one std::thread per CUDA thread,
# std::barrier for __syncthreads and shuffles); it says nothing about speed,
# real memory-model behaviour or the CUDA toolchain. Slow: minutes.
#
#   cuda/tests/emu/run.sh            # ADDERNET_CUDA_TEST_SHAPES=20 by default
#
# How: convert.py rewrites each kernel<<<grid, block, smem, stream>>>(args)
# launch into emu::launch(...), and cuda_runtime.h here stands in for the real
# one (a few runtime calls on host memory). Needs g++ with C++20 and python3.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
WORK="${WORK:-/tmp/addernet-cuda-emu}"
rm -rf "$WORK/src" && mkdir -p "$WORK/src"
cmake -S "$ROOT" -B "$WORK/cpu" -DADDERNET_CUDA=OFF -DADDERNET_TESTS=OFF >/dev/null
cmake --build "$WORK/cpu" -j "$(nproc)" --target addernet_kernels >/dev/null
for f in "$ROOT"/cuda/*.cu; do python3 "$HERE/convert.py" "$f" "$WORK/src/$(basename "${f%.cu}").cc"; done
for f in "$ROOT"/cuda/*.cuh; do python3 "$HERE/convert.py" "$f" "$WORK/src/$(basename "$f")"; done
g++ -std=c++20 -O2 -pthread -w -I"$HERE" -I"$ROOT/cuda" -I"$ROOT/cpp" "$WORK"/src/*.cc "$HERE/emu.cc" \
  "$ROOT/cuda/tests/test_cuda.cc" "$WORK/cpu/libaddernet_kernels.a" -o "$WORK/emu_tests"
ADDERNET_CUDA_TEST_SHAPES="${ADDERNET_CUDA_TEST_SHAPES:-20}" stdbuf -oL "$WORK/emu_tests"
