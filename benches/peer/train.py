"""Peer of benches/train.rs: the same models, batch, optimiser and thread count in PyTorch (CPU).
Prints lines `pytorch     <name> train <images/s> images/s   inference <images/s> images/s`."""
import os
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


def bench(name, model, shape, steps):
    x = (torch.arange(int(torch.tensor(shape).prod())).reshape(shape) * 2654435761 % 1000).float() / 1000 - 0.5
    y = torch.arange(shape[0]) % 2
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    train = steps * shape[0] / (time.perf_counter() - start)
    model.eval()
    with torch.no_grad():
        model(x)
        start = time.perf_counter()
        for _ in range(steps):
            model(x)
        infer = steps * shape[0] / (time.perf_counter() - start)
    print(f"pytorch     {name:<20} train {train:7.1f} images/s   inference {infer:7.1f} images/s")


bench("cnn 1x128x128", cnn(), (32, 1, 128, 128), 8)
bench("resnet18 3x224x224", torchvision.models.resnet18(num_classes=2), (32, 3, 224, 224), 3)
