#!/usr/bin/env python3
"""Search quality on a dataset (default Fashion-MNIST): NSGA-II vs random search, and the front
vs the hand-designed baselines at measured latency.

    cargo build --release
    python3 benches/repair_idx.py ../shared/data/fashion-mnist /tmp/fashion-mnist
    python3 benches/search_quality.py --data /tmp/fashion-mnist

1. `nsga2-0`: one search with seed 0 trains the supernet (`--supernet-steps`), finishes
   `--finish` winners and the three baselines (`--finish-baselines`: same inherited weights,
   export, tract check, measured on this machine) and reports which baselines a winner
   dominates (test accuracy >= and measured latency <=).
2. NSGA-II with seeds 1..N-1 and random search with seeds 0..N-1, every run on the same
   supernet and the same validation split (`--supernet`, `--split-seed 0`), the same number of
   evaluations (population x generations), nothing finished.
3. Hypervolume of every run's feasible front in (top-1 validation error, predicted latency)
   with one reference point for all runs: error 1.0, latency 1.1 x the largest latency any run
   evaluated. Prints each pair, the mean and spread, and writes `quality.json`.

Runs that already have a `summary.json` are not repeated, so the script can be rerun after an
interruption.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys


def hv2(points, ref):
    """Exact 2-D hypervolume (minimisation) of `points` w.r.t. `ref`."""
    pts = sorted(p for p in points if p[0] < ref[0] and p[1] < ref[1])
    hv, best_y = 0.0, ref[1]
    for x, y in pts:
        if y < best_y:
            hv += (ref[0] - x) * (best_y - y)
            best_y = y
    return hv


def journal(run):
    return [json.loads(l) for l in (run / "journal.jsonl").read_text().splitlines() if l.strip()]


def search(args, run, seed, algorithm, extra):
    if (run / "summary.json").exists():
        return
    cmd = [
        args.bin, "search", "--data", args.data, "--algorithm", algorithm, "--seed", str(seed),
        "--population", str(args.population), "--generations", str(args.generations),
        "--valid-images", str(args.valid_images), "--out", str(run), "--quiet",
    ] + (["--resume"] if (run / "config.json").exists() else []) + extra
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="/tmp/fashion-mnist")
    ap.add_argument("--bin", default="target/release/edgenas")
    ap.add_argument("--root", default="runs/quality", type=pathlib.Path)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--population", type=int, default=12)
    ap.add_argument("--generations", type=int, default=6)
    ap.add_argument("--supernet-steps", type=int, default=600)
    ap.add_argument("--valid-images", type=int, default=1000)
    ap.add_argument("--finish", type=int, default=5)
    ap.add_argument("--finetune-steps", type=int, default=0)
    ap.add_argument("--challenger-candidates", type=int, default=1,
                    help="candidates fine-tuned per baseline to pick its challenger (with --finetune-steps)")
    a = ap.parse_args()
    if not pathlib.Path(a.data).exists():
        print(f"{a.data}: no dataset there; skipping", file=sys.stderr)
        return
    a.root.mkdir(parents=True, exist_ok=True)
    first = a.root / "nsga2-0"
    search(a, first, 0, "nsga2", ["--supernet-steps", str(a.supernet_steps), "--finish", str(a.finish),
                                  "--finetune-steps", str(a.finetune_steps), "--finish-baselines",
                                  "--challenger-candidates", str(a.challenger_candidates)])
    shared = ["--supernet", str(first / "supernet"), "--split-seed", "0", "--finish", "0"]
    runs = {"nsga2": [first], "random": []}
    for seed in range(a.seeds):
        if seed > 0:
            runs["nsga2"].append(a.root / f"nsga2-{seed}")
            search(a, runs["nsga2"][-1], seed, "nsga2", shared)
        runs["random"].append(a.root / f"random-{seed}")
        search(a, runs["random"][-1], seed, "random", shared)

    recs = {k: [journal(r) for r in v] for k, v in runs.items()}
    lat_max = max(r["latency_ms"][0] for v in recs.values() for j in v for r in j)
    ref = (1.0, 1.1 * lat_max)
    hv = {
        k: [hv2([(1.0 - r["accuracy"], r["latency_ms"][0]) for r in j if r["feasible"]], ref) for j in v]
        for k, v in recs.items()
    }
    evals = {k: [len(j) for j in v] for k, v in recs.items()}
    print(f"\nhypervolume, reference (error 1.0, latency {ref[1]:.3f} ms), {a.population} x {a.generations} evaluations")
    print("seed  nsga2    random   (distinct architectures evaluated)")
    for s in range(a.seeds):
        print(f"{s:>4}  {hv['nsga2'][s]:.4f}   {hv['random'][s]:.4f}   ({evals['nsga2'][s]} / {evals['random'][s]})")
    stats = {}
    for k, v in hv.items():
        stats[k] = {"mean": statistics.mean(v), "stdev": statistics.stdev(v) if len(v) > 1 else 0.0,
                    "min": min(v), "max": max(v), "values": v, "evaluations": evals[k]}
        print(f"{k:>6}: mean {stats[k]['mean']:.4f}, stdev {stats[k]['stdev']:.4f}, "
              f"min {stats[k]['min']:.4f}, max {stats[k]['max']:.4f}")
    wins = sum(n > r for n, r in zip(hv["nsga2"], hv["random"]))
    print(f"NSGA-II above random search in {wins} of {a.seeds} seeds; mean ratio "
          f"{stats['nsga2']['mean'] / stats['random']['mean']:.4f}")

    summary = json.loads((first / "summary.json").read_text())
    print(f"\n{first}: finished winners and baselines (test accuracy, measured latency)")
    for f in summary["finished"] + summary.get("baselines_finished", []):
        print(f"  {f['name']:<24} acc {100 * f['test_accuracy_burn']:.2f} % (tract {100 * f['test_accuracy_tract']:.2f} %)"
              f"  predicted {f['predicted_ms']:.3f} ms  measured {f['measured_ms']:.3f} ms")
    for d in summary.get("baselines_dominated", []):
        print(f"  {d['baseline']}: " + (f"dominated by {', '.join(d['by'])}" if d["dominated"] else "not dominated"))
    out = {"reference": ref, "hypervolume": stats, "nsga2_wins": wins, "seeds": a.seeds,
           "population": a.population, "generations": a.generations, "supernet_steps": a.supernet_steps,
           "data": a.data, "first_run": summary}
    tmp = a.root / "quality.json.tmp"
    tmp.write_text(json.dumps(out, indent=2))
    tmp.replace(a.root / "quality.json")


if __name__ == "__main__":
    main()
