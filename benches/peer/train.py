"""Peer of benches/train.rs: the same models, batch, optimiser and thread count in PyTorch (CPU).

    python3 train.py CASE MODE STEPS
    python3 train.py CASE MODE serve

CASE is `cnn`, `resnet18`, `resnet50` or `densenet121` with a batch (`resnet50/8`); MODE is `train` (Adam on
every parameter), `frozen` (the backbone frozen except batch-norm; Adam on batch-norm and the head) or
`inference`. With STEPS, prints one line `images/s <median step> peak_kib <peak resident memory of this
process>`. With `serve` (how the bench runs it, taking turns with its own side), it runs the warm-up step, then
one step per line `step` read from stdin, answering `seconds <its time>`, and at the end of stdin prints
`peak_kib <peak>`. The bench runs one process per row, so each peak belongs to one row."""
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torchvision

torch.set_num_threads(os.cpu_count() or 1)


def cnn():
    layers, c_in = [], 1
    for c in [32, 64, 128]:
        layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
        c_in = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, 2))


def network(name):
    if name == "cnn":
        return cnn(), 1, 128
    model = getattr(torchvision.models, name)(num_classes=2)
    return model, 3, 224


def freeze_backbone(model):
    """Everything but batch-norm and the classifier (the last linear layer) stops learning."""
    head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    for module in model.modules():
        trainable = isinstance(module, nn.BatchNorm2d) or module is head
        for p in module.parameters(recurse=False):
            p.requires_grad_(trainable)


def main():
    case, mode, steps = sys.argv[1], sys.argv[2], sys.argv[3]
    name, _, batch = case.partition("/")
    model, channels, side = network(name)
    shape = (int(batch or 32), channels, side, side)
    n = shape[0] * channels * side * side
    # The bench's fixed pseudo-random batch: the same values in both processes.
    x = ((torch.arange(n, dtype=torch.int64) * 2654435761) % 1000).float().reshape(shape) / 1000 - 0.5
    y = torch.arange(shape[0]) % 2
    if mode == "frozen":
        freeze_backbone(model)
    if mode == "inference":
        model.eval()

        def step():
            with torch.no_grad():
                model(x)
    else:
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        loss_fn = nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()

    step()  # warm-up
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if steps == "serve":
        print("ready", flush=True)
        for line in sys.stdin:
            if line.strip() == "step":
                start = time.perf_counter()
                step()
                print(f"seconds {time.perf_counter() - start:.6f}", flush=True)
        print(f"peak_kib {peak()}", flush=True)
        return
    times = []
    for _ in range(int(steps)):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(f"images/s {shape[0] / statistics.median(times):.2f} peak_kib {peak()}")


main()
