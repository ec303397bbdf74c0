#!/usr/bin/env python3
"""Training and inference throughput of one architecture: Burn flex (edgenas-train's
`throughput` example) against PyTorch CPU, both on 2 threads, measured side by side in one
run (rounds interleaved, medians reported) so the shared machine's noise hits both alike.

    python3 benches/compare/train_throughput.py [--arch spaces/reference-arch.json] [--rounds 3]

Needs `pip install torch` (CPU). Builds the example with cargo (release) first.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)


def torch_round(arch_path, bs=64, reps=5):
    import torch
    import torch_net

    torch.manual_seed(0)
    net = torch_net.load(arch_path)
    a = json.load(open(arch_path))
    shape = (a["input"]["channels"], a["input"]["height"], a["input"]["width"])
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    lf = torch.nn.CrossEntropyLoss()
    x = torch.randn(bs, *shape)
    y = torch.arange(bs) % 10
    times = []
    for i in range(reps + 1):
        t = time.perf_counter()
        opt.zero_grad()
        lf(net(x), y).backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t)
    train = bs / statistics.median(times)
    net.eval()
    xb = torch.randn(256, *shape)
    times = []
    with torch.no_grad():
        for i in range(reps + 1):
            t = time.perf_counter()
            net(xb)
            if i:
                times.append(time.perf_counter() - t)
    return train, 256 / statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default=os.path.join(ROOT, "spaces", "reference-arch.json"))
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("PyTorch is not installed: pip install torch")
    torch.set_num_threads(2)
    env = dict(os.environ, RAYON_NUM_THREADS="2")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "edgenas-train", "--example", "throughput"], cwd=ROOT, check=True)
    exe = os.path.join(ROOT, "target", "release", "examples", "throughput")
    burn_t, burn_i, torch_t, torch_i = [], [], [], []
    for r in range(args.rounds):
        out = subprocess.run([exe, "--arch", args.arch, "--json"], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        b = json.loads(out.stdout.strip().splitlines()[-1])
        burn_t.append(b["train_images_per_s"])
        burn_i.append(b["infer_images_per_s"])
        t, i = torch_round(args.arch)
        torch_t.append(t)
        torch_i.append(i)
        print(f"round {r + 1}: Burn train {burn_t[-1]:.0f} infer {burn_i[-1]:.0f} | PyTorch train {t:.0f} infer {i:.0f} img/s")
    m = statistics.median
    print(f"\narchitecture {os.path.relpath(args.arch, ROOT)}, 2 threads, batch 64 train / 256 inference, {args.rounds} interleaved rounds (medians, min-max)")
    print(f"{'':10} {'Burn flex':>22} {'PyTorch ' + torch.__version__:>22} {'Burn/PyTorch':>13}")
    for name, b, t in [("train", burn_t, torch_t), ("inference", burn_i, torch_i)]:
        print(f"{name:10} {m(b):10.0f} ({min(b):.0f}-{max(b):.0f}) {m(t):10.0f} ({min(t):.0f}-{max(t):.0f}) {m(b) / m(t):13.2f}")


if __name__ == "__main__":
    main()
