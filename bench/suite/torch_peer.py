"""PyTorch peers for the addernet comparison suite (bench/suite).

Driven by bench/suite/torch.ts over stdin/stdout, one JSON object per line.
Two systems per shape:
  adder: the reference AdderNet layer, reimplemented from shared SPEC.md the
         way the authors' adder.py computes it: unfold the zero-padded input,
         broadcast |X_col - W_col| over [T, K, P], sum over K. Training step =
         forward + full-precision filter gradient + HardTanh input gradient
         (folded back), without the adaptive-lr scaling (the addernet
         backward does not apply it either). The [T, K, P] temporary is built
         in chunks of positions so that it stays below CHUNK_BYTES; the
         original materialises it whole, which does not fit in memory for
         the larger layers here.
  conv:  torch.nn.functional.conv2d; training step = forward + autograd
         backward with the given output gradient.
Each run is timed here with time.perf_counter() around the call only.
"""
import gc
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

CHUNK_BYTES = 64 << 20

state = {}


def hwm_reset():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return status_kb("VmRSS") / 1024
    except OSError:
        return None


def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def load(path, shape):
    return torch.from_numpy(np.fromfile(path, dtype=np.float32).reshape(shape)).contiguous()


def out_size(s):
    ho = (s["h"] + 2 * s["ph"] - s["kh"]) // s["sh"] + 1
    wo = (s["w"] + 2 * s["pw"] - s["kw"]) // s["sw"] + 1
    return ho, wo


def adder_cols(x, w, s):
    """X_col [K, P] (P = N*HO*WO, n-major) and W_col [T, K]."""
    n = x.shape[0]
    ho, wo = out_size(s)
    xcol = F.unfold(x, (s["kh"], s["kw"]), padding=(s["ph"], s["pw"]), stride=(s["sh"], s["sw"]))  # [N, K, L]
    k = xcol.shape[1]
    xcol = xcol.permute(1, 0, 2).reshape(k, n * ho * wo)
    return xcol, w.reshape(w.shape[0], -1)


def chunk_of(t, k):
    return max(1, CHUNK_BYTES // (4 * t * k))


def adder_forward(x, w, s):
    n = x.shape[0]
    ho, wo = out_size(s)
    xcol, wcol = adder_cols(x, w, s)
    t, k = wcol.shape
    p = xcol.shape[1]
    out = torch.empty(t, p)
    step = chunk_of(t, k)
    for p0 in range(0, p, step):
        xc = xcol[:, p0:p0 + step]
        out[:, p0:p0 + step] = -(wcol.unsqueeze(2) - xc.unsqueeze(0)).abs().sum(1)
    return out.reshape(t, n, ho, wo).permute(1, 0, 2, 3).contiguous()


def adder_train(x, w, g, s):
    n = x.shape[0]
    ho, wo = out_size(s)
    y = adder_forward(x, w, s)
    xcol, wcol = adder_cols(x, w, s)
    t, k = wcol.shape
    p = xcol.shape[1]
    gm = g.permute(1, 0, 2, 3).reshape(t, p)  # [T, P]
    dwcol = torch.zeros(t, k)
    dxcol = torch.empty(k, p)
    step = chunk_of(t, k)
    for p0 in range(0, p, step):
        xc = xcol[:, p0:p0 + step]
        gc_ = gm[:, p0:p0 + step].unsqueeze(1)  # [T, 1, p]
        diff = xc.unsqueeze(0) - wcol.unsqueeze(2)  # [T, K, p]
        dwcol += (diff * gc_).sum(2)
        dxcol[:, p0:p0 + step] = ((-diff).clamp(-1, 1) * gc_).sum(0)
    dxcol = dxcol.reshape(k, n, ho * wo).permute(1, 0, 2)
    dx = F.fold(dxcol, (s["h"], s["w"]), (s["kh"], s["kw"]), padding=(s["ph"], s["pw"]), stride=(s["sh"], s["sw"]))
    return y, dx, dwcol.reshape(w.shape)


def conv_forward(x, w, s):
    return F.conv2d(x, w, stride=(s["sh"], s["sw"]), padding=(s["ph"], s["pw"]))


def conv_train(x, w, g, s):
    xr = x.detach().requires_grad_(True)
    wr = w.detach().requires_grad_(True)
    y = F.conv2d(xr, wr, stride=(s["sh"], s["sw"]), padding=(s["ph"], s["pw"]))
    y.backward(g)
    return y.detach(), xr.grad, wr.grad


def call(system, mode):
    s, x, w, g = state["shape"], state["x"], state["w"], state["g"]
    if system == "adder":
        if mode == "fwd":
            with torch.no_grad():
                return (adder_forward(x, w, s),)
        with torch.no_grad():
            return adder_train(x, w, g, s)
    if mode == "fwd":
        with torch.no_grad():
            return (conv_forward(x, w, s),)
    return conv_train(x, w, g, s)


def handle(req):
    cmd = req["cmd"]
    if cmd == "info":
        return {
            "torch": torch.__version__,
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
            "defaultThreads": torch.get_num_threads(),
            "parallel": torch.__config__.parallel_info().splitlines()[0:3],
        }
    if cmd == "load":
        s = req["shape"]
        ho, wo = out_size(s)
        state["shape"] = s
        state["x"] = load(req["x"], (s["n"], s["c"], s["h"], s["w"]))
        state["w"] = load(req["w"], (s["t"], s["c"], s["kh"], s["kw"]))
        state["g"] = load(req["g"], (s["n"], s["t"], ho, wo))
        return {}
    if cmd == "run":
        threads = int(req["threads"])
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
            with torch.no_grad():  # untimed: let the new thread team start
                conv_forward(state["x"], state["w"], state["shape"])
        gc.collect()
        base = hwm_reset()
        t0 = time.perf_counter()
        out = call(req["system"], req["mode"])
        ms = (time.perf_counter() - t0) * 1e3
        peak = status_kb("VmHWM") / 1024 if base is not None else None
        del out
        return {"ms": ms, "peakMiB": peak, "baseMiB": base}
    if cmd == "dump":
        outs = call(req["system"], req["mode"])
        paths = []
        for i, o in enumerate(outs):
            path = "%s.%d.bin" % (req["prefix"], i)
            o.detach().contiguous().numpy().astype(np.float32).tofile(path)
            paths.append(path)
        return {"paths": paths}
    if cmd == "unload":
        state.clear()
        gc.collect()
        return {}
    raise ValueError("unknown command %r" % cmd)


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        if req.get("cmd") == "quit":
            break
        try:
            res = handle(req)
            res["ok"] = True
        except Exception as e:  # report, keep serving
            res = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
