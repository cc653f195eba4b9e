"""PyTorch peer for `npm run bench:net` (bench/net.ts): exports the CNN
LeNet-5-BN and ResNet-20 (the same architectures as addernet's
models.lenet5bn/resnet20({layer: 'conv'}); builders in torch_train.py) to ONNX
for ONNX Runtime, and times PyTorch's own eval-mode inference at each batch
size (torch.no_grad, one warm-up call, then `--runs` samples of enough calls
to last about 0.2 s each). Prints one JSON line:
  {"torchVersion", "threads", "models": {name: {"onnx": path, "inference": {batch: [ms per call, ...]}}}}

Standalone: python3 bench/suite/torch_net.py --out-dir /tmp/net --threads 2 --runs 5
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_train import MODELS  # noqa: E402  (the bench's one definition of the CNNs and their inputs)


def sample_ms(fn, seconds=0.2):
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-6)
    calls = max(1, int(seconds / once))
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) * 1000 / calls


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--out-dir', required=True)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--runs', type=int, default=5)
    p.add_argument('--batches', default='1,64,256')
    p.add_argument('--models', default='lenet5bn,resnet20')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    os.makedirs(a.out_dir, exist_ok=True)
    out = {'torchVersion': torch.__version__, 'threads': torch.get_num_threads(), 'models': {}}
    for name in a.models.split(','):
        build, shape = MODELS[name]
        model = build().eval()
        onnx_path = os.path.join(a.out_dir, f'{name}.onnx')
        example = torch.randn(1, *shape)
        torch.onnx.export(model, example, onnx_path, opset_version=13, input_names=['x'], output_names=['logits'],
                          dynamic_axes={'x': {0: 'batch'}, 'logits': {0: 'batch'}})
        inference = {}
        with torch.no_grad():
            for b in [int(s) for s in a.batches.split(',')]:
                x = torch.randn(b, *shape)
                model(x)  # warm-up
                inference[str(b)] = [sample_ms(lambda: model(x)) for _ in range(a.runs)]
        out['models'][name] = {'onnx': onnx_path, 'inference': inference}
    print(json.dumps(out))


if __name__ == '__main__':
    main()
