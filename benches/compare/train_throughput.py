#!/usr/bin/env python3
"""Training and inference throughput of one architecture: Burn flex (edgenas-train's
`throughput` example) with edgenas's training kernels, Burn flex with Burn's own operations
(`EDGENAS_KERNELS=burn`), and PyTorch CPU, all on 2 threads, measured side by side in one
run (rounds interleaved, medians reported) so the shared machine's noise hits all alike.
PyTorch's OpenMP threads spin: with another process busy on the cores its figures collapse,
so run this on an otherwise idle machine.

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
    cols = {"kernels": ([], []), "burn ops": ([], []), "torch": ([], [])}
    for r in range(args.rounds):
        for name, kernels in [("kernels", "fast"), ("burn ops", "burn")]:
            out = subprocess.run([exe, "--arch", args.arch, "--json"], cwd=ROOT, env=dict(env, EDGENAS_KERNELS=kernels), check=True, capture_output=True, text=True)
            b = json.loads(out.stdout.strip().splitlines()[-1])
            cols[name][0].append(b["train_images_per_s"])
            cols[name][1].append(b["infer_images_per_s"])
        t, i = torch_round(args.arch)
        cols["torch"][0].append(t)
        cols["torch"][1].append(i)
        print(f"round {r + 1}: " + " | ".join(f"{n} train {c[0][-1]:.0f} infer {c[1][-1]:.0f}" for n, c in cols.items()) + " img/s")
    m = statistics.median
    print(f"\narchitecture {os.path.relpath(args.arch, ROOT)}, 2 threads, batch 64 train / 256 inference, {args.rounds} interleaved rounds (medians, min-max)")
    print(f"{'':10} {'Burn kernels':>20} {'Burn ops':>20} {'PyTorch ' + torch.__version__:>24} {'kernels/PyTorch':>16} {'Burn ops/PyTorch':>17}")
    for j, name in enumerate(["train", "inference"]):
        k, b, t = (cols[c][j] for c in cols)
        f = lambda v: f"{m(v):8.0f} ({min(v):.0f}-{max(v):.0f})"
        print(f"{name:10} {f(k):>20} {f(b):>20} {f(t):>24} {m(k) / m(t):16.2f} {m(b) / m(t):17.2f}")


if __name__ == "__main__":
    main()
