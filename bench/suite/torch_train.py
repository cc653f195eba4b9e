"""PyTorch CPU training peer for `npm run bench:train` (bench/train.ts).

Trains the same CNNs as addernet's models.lenet5bn({layer: 'conv'}) and
models.resnet20({layer: 'conv'}) (lib/nn/models.ts, lib/nn/resnet.ts,
lib/nn/layers.ts) on synthetic data with the same recipe as the bench's fit()
calls: SGD lr 0.01, momentum 0.9, weight decay 5e-4, mean cross-entropy, a
fresh shuffle per run, and the loss and accuracy read back after every step
(fit() awaits both). One short warm-up run, then `--runs` timed runs of
`--steps` steps; prints one JSON line:
  {"examplesPerSecond", "samples", "torchVersion", "threads", ...}

Standalone: python3 bench/suite/torch_train.py --model resnet20 --batch 64 --steps 8 --runs 5 --threads 2
"""
import argparse
import json
import os
import statistics
import time

import torch
import torch.nn as nn


def lenet5bn():
    # The CNN variant: 5x5 convs without bias (BN follows), FC 400-120-84-10,
    # bias only on the classifier, no BN after it (only the adder variant has bn5).
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2, bias=False),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120, bias=False),
        nn.BatchNorm1d(120),
        nn.ReLU(),
        nn.Linear(120, 84, bias=False),
        nn.BatchNorm1d(84),
        nn.ReLU(),
        nn.Linear(84, 10, bias=True),
    )


class BasicBlock(nn.Module):
    """3x3 conv -> BN -> ReLU -> 3x3 conv -> BN, plus the shortcut (1x1 conv
    with stride + BN when the shape changes), then ReLU; convs without bias."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))
        self.relu_out = nn.ReLU()

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        shortcut = self.downsample(x) if self.downsample is not None else x
        return self.relu_out(out + shortcut)


class ResNet(nn.Module):
    """CIFAR ResNet: conv 3->16 + BN + ReLU, three stages of `depth` blocks
    (16/32/64 channels, stride 2 at stages 2 and 3), 8x8 average pool, 1x1
    conv classifier without bias, BatchNorm over the classes, flatten."""

    def __init__(self, depth=3, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        blocks, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            stage = []
            for i in range(depth):
                stage.append(BasicBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
            blocks.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3 = blocks
        self.avgpool = nn.AvgPool2d(8)
        self.fc = nn.Conv2d(64, num_classes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return torch.flatten(self.bn2(self.fc(self.avgpool(x))), 1)


MODELS = {
    "lenet5bn": (lenet5bn, (1, 28, 28)),
    "resnet20": (lambda: ResNet(depth=3), (3, 32, 32)),
}


def status_kb(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss():
    """Resets VmHWM to the current RSS (Linux clear_refs); False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=sorted(MODELS), required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup-steps", type=int, default=2, help="steps of the one warm-up run (the bench's warm-up fit has 2 batches)")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    build, shape = MODELS[a.model]
    n = a.batch * a.steps
    # Synthetic data like the bench's: values in [-1, 1], labels (7i + 7) mod 10.
    images = torch.rand((n, *shape)) * 2 - 1
    labels = (torch.arange(n) * 7 + 7) % 10
    warm_images, warm_labels = images[: a.batch * a.warmup_steps], labels[: a.batch * a.warmup_steps]

    rss_before_kb = status_kb("VmRSS")
    can_reset = reset_peak_rss()
    model = build()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()

    def run(xs, ys, seed):
        # A shuffled pass in batches (a DataLoader without workers), reading
        # loss and accuracy back after every step as fit() does.
        g = torch.Generator().manual_seed(seed)
        order = torch.randperm(xs.shape[0], generator=g)
        t0 = time.perf_counter()
        count = 0
        for i in range(0, xs.shape[0], a.batch):
            idx = order[i : i + a.batch]
            x, y = xs[idx], ys[idx]
            opt.zero_grad(set_to_none=True)
            out = model(x)
            loss = loss_fn(out, y)
            loss.backward()
            opt.step()
            loss.item()
            (out.argmax(1) == y).sum().item()
            count += x.shape[0]
        return count / (time.perf_counter() - t0)

    run(warm_images, warm_labels, 0)
    samples = [run(images, labels, r + 1) for r in range(a.runs)]
    peak_kb = status_kb("VmHWM") if can_reset else None
    print(json.dumps({
        "examplesPerSecond": statistics.median(samples),
        "samples": samples,
        "torchVersion": torch.__version__,
        "threads": torch.get_num_threads(),
        "parameters": sum(q.numel() for q in model.parameters()),
        # OpenMP threads spin-wait between parallel regions by default; on a busy machine that costs torch a lot.
        "ompWaitPolicy": os.environ.get("OMP_WAIT_POLICY"),
        "model": a.model,
        "batch": a.batch,
        "steps": a.steps,
        "runs": a.runs,
        "peakRssGrowthMb": round((peak_kb - rss_before_kb) / 1024) if peak_kb is not None and rss_before_kb is not None else None,
    }))


if __name__ == "__main__":
    main()
