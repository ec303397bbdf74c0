#!/usr/bin/env python3
"""Two devices at once (BENCHMARKS.md, "Two devices"): how differently this machine
(profiles/local.json) and the emulated arm64 board (profiles/qemu-arm64.json) rank the default
space's blocks, and whether a search for both picks different architectures per device.

1. Per-key medians of the two tables: Kendall's tau over the keys both hold, the range of
   emulated / host ratios, and the blocks whose rank moves most.
2. `edgenas search` with both profiles, a budget on each (the reference architecture's predicted
   latency on that device), the baselines in the first generation; its finished winners are
   measured on both devices (the emulated one through its agent: start it first with
   `scripts/agent-qemu.sh start`).
3. From the search's journal: the front of (validation error, latency) on each device alone,
   and how many architectures the two fronts share.

Usage (release build, the emulated agent running):
  python3 benches/compare/two_devices.py [--out runs/two-devices] [--reuse]
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def kendall_tau(a, b):
    n, s = len(a), 0
    for i in range(n):
        for j in range(i + 1, n):
            x, y = a[i] - a[j], b[i] - b[j]
            s += (x > 0) - (x < 0) if y > 0 else ((x < 0) - (x > 0) if y < 0 else 0)
    return 2 * s / (n * (n - 1))


def ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    r = [0] * len(values)
    for pos, i in enumerate(order):
        r[i] = pos
    return r


def front(points):
    """Indices of the non-dominated points (all minimized)."""
    out = []
    for i, p in enumerate(points):
        if not any(all(q[k] <= p[k] for k in range(len(p))) and q != p for q in points):
            out.append(i)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgenas", default=os.path.join(ROOT, "target/release/edgenas"))
    ap.add_argument("--out", default="runs/two-devices")
    ap.add_argument("--reuse", action="store_true", help="read the search already in --out")
    a = ap.parse_args()
    os.chdir(ROOT)
    local = json.load(open("profiles/local.json"))
    qemu = json.load(open("profiles/qemu-arm64.json"))
    keys = sorted(set(local["keys"]) & set(qemu["keys"]))
    lm = [local["keys"][k]["median_ns"] for k in keys]
    qm = [qemu["keys"][k]["median_ns"] for k in keys]
    tau = kendall_tau(lm, qm)
    ratios = [q / l for l, q in zip(lm, qm)]
    rl, rq = ranks(lm), ranks(qm)
    moves = sorted(range(len(keys)), key=lambda i: -abs(rl[i] - rq[i]))[:6]
    print(f"{len(keys)} keys in both tables; Kendall's tau of the per-key medians {tau:.3f}; "
          f"emulated / host {min(ratios):.0f}x to {max(ratios):.0f}x")
    print("blocks whose rank moves most (rank of 0 = fastest):")
    for i in moves:
        print(f"  {keys[i]:<40} host rank {rl[i]:3d} ({lm[i] / 1e3:8.1f} us), emulated rank {rq[i]:3d} "
              f"({qm[i] / 1e3:9.1f} us)")

    def predict(profile):
        out = subprocess.run([a.edgenas, "predict", "spaces/reference-arch.json", "--profile", profile, "--json"],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)["predicted_ns"] / 1e6

    budgets = [predict("profiles/local.json"), predict("profiles/qemu-arm64.json")]
    print(f"budgets (the reference architecture's predicted latency): local {budgets[0]:.3f} ms, "
          f"qemu-arm64 {budgets[1]:.3f} ms")
    if not a.reuse:
        cmd = [a.edgenas, "search", "--data", "data/mnist-10k", "--profile", "profiles/local.json", "--profile",
               "profiles/qemu-arm64.json", "--latency-budget-ms", f"{budgets[0]:.4f}", "--latency-budget-ms",
               f"{budgets[1]:.4f}", "--population", "12", "--generations", "6", "--init-baselines",
               "--supernet-steps", "400", "--finish", "3", "--finetune-steps", "400", "--out", a.out, "--quiet"]
        print("$ " + " ".join(cmd[1:]))
        subprocess.run(cmd, check=True)
    with open(os.path.join(a.out, "journal.jsonl")) as f:
        records = [json.loads(l) for l in f][1:]
    feasible = [r for r in records if r["feasible"]]
    fronts = []
    for d in range(2):
        pts = [[1 - r["accuracy"], r["latency_ms"][d]] for r in feasible]
        fronts.append({tuple(feasible[i]["genome"]) for i in front(pts)})
    both = fronts[0] & fronts[1]
    print(f"{len(records)} evaluated, {len(feasible)} within both budgets; front on local alone "
          f"{len(fronts[0])}, on qemu-arm64 alone {len(fronts[1])}, shared {len(both)}")
    summary = json.load(open(os.path.join(a.out, "summary.json")))
    print("finished winners: predicted / measured ms on each device")
    for f in summary["finished"]:
        cells = ", ".join(f"{d['device']} {d['predicted_ms']:.3f} / {d['measured_ms']:.3f}" for d in f["on_devices"])
        print(f"  {f['name']:<16} test {100 * f['test_accuracy_burn']:.2f} %  {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
