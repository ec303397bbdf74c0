#!/usr/bin/env python3
"""NSGA-II: pymoo 0.6.2 against edgenas-search on ZDT1, ZDT2, ZDT3 and DTLZ2.

Same budget on both sides (population 100, 250 generations = 25,000 evaluations, 5 seeds),
hypervolume of the final non-dominated set with reference point 1.1 per objective, wall time
per run. pymoo runs first; then the Rust example
`cargo run --release -p edgenas-search --example standard -- --json` (CARGO_TARGET_DIR is
honoured). Prints a side-by-side table with the HV ratio (Rust / pymoo) and the speed ratio
(pymoo time / Rust time, medians).

    pip install pymoo==0.6.2
    python3 benches/compare/pymoo_nsga2.py [--seeds 5] [--gens 250] [--pop 100] [--json OUT]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROBLEMS = ["zdt1", "zdt2", "zdt3", "dtlz2"]


def run_pymoo(name, seeds, gens, pop):
    import pymoo
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.indicators.hv import HV
    from pymoo.optimize import minimize
    from pymoo.problems import get_problem

    if pymoo.__version__ != "0.6.2":
        print(f"warning: pymoo {pymoo.__version__}, the reference figures are for 0.6.2", file=sys.stderr)
    problem = get_problem("dtlz2", n_var=12, n_obj=3) if name == "dtlz2" else get_problem(name, n_var=30)
    hv = HV(ref_point=np.full(problem.n_obj, 1.1))
    hvs, times, evals = [], [], 0
    for seed in range(seeds):
        t = time.perf_counter()
        res = minimize(problem, NSGA2(pop_size=pop), ("n_gen", gens), seed=seed, verbose=False)
        times.append(time.perf_counter() - t)
        hvs.append(float(hv(res.F)))
        evals = res.algorithm.evaluator.n_eval
    return {"problem": name, "hv": hvs, "time_s": times, "evaluations": evals}


def run_rust(seeds, gens, pop):
    cmd = ["cargo", "run", "--release", "-q", "-p", "edgenas-search", "--example", "standard", "--",
           "--json", "--seeds", str(seeds), "--gens", str(gens), "--pop", str(pop)]
    out = subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
    return {row["problem"]: row for row in json.loads(out)}


def spread(v):
    return statistics.stdev(v) if len(v) > 1 else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--gens", type=int, default=250)
    ap.add_argument("--pop", type=int, default=100)
    ap.add_argument("--json", metavar="OUT", help="also write all figures to this JSON file")
    a = ap.parse_args()

    py = {}
    for name in PROBLEMS:
        py[name] = run_pymoo(name, a.seeds, a.gens, a.pop)
        r = py[name]
        print(f"pymoo {name}: HV {statistics.mean(r['hv']):.4f} +- {spread(r['hv']):.4f}, "
              f"median {statistics.median(r['time_s']):.2f} s", file=sys.stderr)
    rust = run_rust(a.seeds, a.gens, a.pop)

    print(f"NSGA-II, pop {a.pop}, {a.gens} generations, {a.seeds} seeds, HV reference 1.1 per objective")
    hdr = ("problem", "evals", "pymoo HV", "Rust HV", "HV ratio", "pymoo time", "Rust time", "speed-up")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for name in PROBLEMS:
        p, r = py[name], rust[name]
        ph, rh = statistics.mean(p["hv"]), statistics.mean(r["hv"])
        pt, rt = statistics.median(p["time_s"]), statistics.median(r["time_s"])
        print(f"| {name} | {p['evaluations']} / {r['evaluations']} "
              f"| {ph:.4f} +- {spread(p['hv']):.4f} | {rh:.4f} +- {spread(r['hv']):.4f} | {rh / ph if ph else float('nan'):.4f} "
              f"| {pt:.2f} s ({min(p['time_s']):.2f}-{max(p['time_s']):.2f}) "
              f"| {rt * 1e3:.1f} ms ({min(r['time_s']) * 1e3:.1f}-{max(r['time_s']) * 1e3:.1f}) "
              f"| {pt / rt:.0f}x |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"pymoo": py, "rust": rust, "seeds": a.seeds, "gens": a.gens, "pop": a.pop}, f, indent=1)


if __name__ == "__main__":
    main()
