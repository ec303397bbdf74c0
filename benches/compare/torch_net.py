"""PyTorch CPU version of an edgenas architecture (same semantics as SEMANTICS.md):
conv + batch-norm + ReLU6, depthwise via groups, squeeze-excite (hard-sigmoid gate),
residual when stride 1 and widths match, 1x1 head conv + global average pool + linear."""
import json

import torch
import torch.nn as nn


def conv_bn(cin, cout, k, s, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout, eps=1e-5)]
    if act:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


def se_hidden(c):
    return max(8, c // 4)


class SE(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = se_hidden(c)
        self.reduce = nn.Conv2d(c, h, 1)
        self.expand = nn.Conv2d(h, c, 1)

    def forward(self, x):
        g = x.mean((2, 3), keepdim=True)
        g = torch.relu(self.reduce(g))
        g = torch.clamp(self.expand(g) * (1.0 / 6.0) + 0.5, 0.0, 1.0)
        return x * g


class Block(nn.Module):
    def __init__(self, cin, cout, k, e, s, se):
        super().__init__()
        cexp = cin * e
        self.expand = conv_bn(cin, cexp, 1, 1) if e > 1 else None
        self.dw = conv_bn(cexp, cexp, k, s, groups=cexp)
        self.se = SE(cexp) if se else None
        self.project = conv_bn(cexp, cout, 1, 1, act=False)
        self.residual = s == 1 and cin == cout

    def forward(self, x):
        t = self.expand(x) if self.expand is not None else x
        t = self.dw(t)
        if self.se is not None:
            t = self.se(t)
        t = self.project(t)
        return t + x if self.residual else t


class Net(nn.Module):
    def __init__(self, arch):
        super().__init__()
        a = arch
        self.stem = conv_bn(a["input"]["channels"], a["stem"]["width"], a["stem"]["kernel"], a["stem"]["stride"])
        blocks = []
        cin = a["stem"]["width"]
        for st in a["stages"]:
            for j, b in enumerate(st["blocks"]):
                s = st["stride"] if j == 0 else 1
                blocks.append(Block(cin, st["width"], b["kernel"], b["expansion"], s, b["se"]))
                cin = st["width"]
        self.blocks = nn.Sequential(*blocks)
        self.head = conv_bn(cin, a["head"]["width"], 1, 1)
        self.fc = nn.Linear(a["head"]["width"], a["classes"])

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(x.mean((2, 3)))


def load(path):
    with open(path) as f:
        return Net(json.load(f))
