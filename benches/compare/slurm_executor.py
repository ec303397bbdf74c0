#!/usr/bin/env python3
"""The Slurm executor's figures, side by side on this machine (BENCHMARKS.md, "Slurm executor").

1. Cost per task: an array of 8 no-work tasks (`true`) from submission to the last leaving the
   queue, and an array of 8 edgenas workers with nothing to evaluate (they read the run's
   settings, the data and the profile, and write a result file) from submission to the last
   result file.
2. A proxy-scored search of `--population` x `--generations` candidates (plus the three
   baselines) with `--executor local`, then with `--executor slurm` on the single-node cluster
   of scripts/slurm-local.sh (one task at a time per node: `--cpus-per-task` = the node's CPUs,
   as local training uses every core): wall time of each, and whether the journals agree.
3. The same search on N such nodes, estimated from the Slurm run's own files: each batch's
   tasks (their measured `seconds`, plus the per-task Slurm cost of 1.) placed greedily in
   index order on N slots, the batches one after the other (a generation waits for the last
   result), plus the coordinator's own time (the Slurm run's wall time minus the time its
   batches took, from each batch's first submission to its last result). At N = 1 the estimate
   is checked against the measured Slurm run.

Needs root (the cluster). Usage:
  cargo build --release
  python3 benches/compare/slurm_executor.py [--population 8] [--generations 3] [--proxy-steps 100]
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sh(cmd, env=None, **kw):
    return subprocess.run(cmd, check=True, env=env, cwd=ROOT, **kw)


def journal(path):
    with open(path) as f:
        lines = [json.loads(l) for l in f if l.strip()]
    out = []
    for r in lines[1:]:
        r.pop("seconds", None)
        out.append(r)
    return out


def jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()][1:]


def makespan(durations, slots):
    free = [0.0] * slots
    for d in durations:
        i = min(range(slots), key=lambda k: free[k])
        free[i] += d
    return max(free) if durations else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgenas", default=os.path.join(ROOT, "target/release/edgenas"))
    ap.add_argument("--dir", default=os.path.join(ROOT, "target/bench-slurm"))
    ap.add_argument("--population", type=int, default=8)
    ap.add_argument("--generations", type=int, default=3)
    ap.add_argument("--proxy-steps", type=int, default=100)
    ap.add_argument("--reuse", action="store_true", help="take the two searches from an earlier run of this script")
    a = ap.parse_args()
    start = subprocess.run(["bash", "scripts/slurm-local.sh", "start"], cwd=ROOT, check=True,
                           capture_output=True, text=True)
    conf = start.stdout.strip().split("=", 1)[1]
    env = dict(os.environ, SLURM_CONF=conf)
    cpus = os.cpu_count()
    e = a.edgenas
    walls = os.path.join(a.dir, "walls.json")
    if not a.reuse:
        shutil.rmtree(a.dir, ignore_errors=True)
        os.makedirs(a.dir)

    # 1a. no-work Slurm tasks, from submission until none is in the queue (`sbatch --wait`
    # polls too coarsely: it reads 10 s)
    t0 = time.time()
    job = sh(["sbatch", "--parsable", "--array=0-7", "-o", "/dev/null", "--wrap", "true"], env=env,
             capture_output=True, text=True).stdout.strip().split(";")[0]
    while sh(["squeue", "-h", "-j", job], env=env, capture_output=True, text=True).stdout.strip():
        time.sleep(0.05)
    true_wall = time.time() - t0

    # 2. the search, local then Slurm
    args = [e, "search", "--data", "data/mnist-10k", "--profile", "profiles/local.json", "--eval", "proxy",
            "--proxy-steps", str(a.proxy_steps), "--population", str(a.population), "--generations",
            str(a.generations), "--finish", "0", "--quiet"]
    slurm_dir = os.path.join(a.dir, "slurm")
    if a.reuse:
        local_wall, slurm_wall = json.load(open(walls))
    else:
        t0 = time.time()
        sh(args + ["--out", os.path.join(a.dir, "local")], stdout=subprocess.DEVNULL)
        local_wall = time.time() - t0
        t0 = time.time()
        sh(args + ["--out", slurm_dir, "--executor", "slurm", "--cpus-per-task", str(cpus)], env=env,
           stdout=subprocess.DEVNULL)
        slurm_wall = time.time() - t0
        json.dump([local_wall, slurm_wall], open(walls, "w"))
    same = journal(os.path.join(a.dir, "local/journal.jsonl")) == journal(os.path.join(slurm_dir, "journal.jsonl"))
    evaluations = len(jsonl(os.path.join(slurm_dir, "journal.jsonl")))

    # 1b. no-work edgenas tasks: a copy of a task with no genome to evaluate
    batch = os.path.join(slurm_dir, "tasks", "bench-empty")
    shutil.rmtree(batch, ignore_errors=True)
    os.makedirs(batch)
    with open(os.path.join(slurm_dir, "tasks", "gen-001", "task-0.json")) as f:
        task = json.load(f)
    task["work"]["evaluate"]["genomes"] = []
    for i in range(8):
        with open(os.path.join(batch, f"task-{i}.json"), "w") as f:
            json.dump(task, f)
    t0 = time.time()
    wrap = f"{e} worker --run {slurm_dir} --batch {batch} --quiet"
    sh(["sbatch", "--parsable", "--array=0-7", "--cpus-per-task", "1", "-o", "/dev/null", "--wrap", wrap],
       env=env, capture_output=True)
    while not all(os.path.exists(os.path.join(batch, f"result-{i}.json")) for i in range(8)):
        time.sleep(0.05)
    empty_wall = time.time() - t0
    empty = [json.load(open(os.path.join(batch, f"result-{i}.json"))) for i in range(8)]
    worker_open = sum(r["seconds"] for r in empty) / len(empty)

    # the cost of a task to a slot: 8 no-work workers on `cpus` slots (scheduling, launch,
    # opening the run, writing the result)
    slurm_cost = empty_wall * cpus / 8 - worker_open
    # 3. estimate on N nodes from the Slurm run's batches
    batches = []
    for b in sorted(glob.glob(os.path.join(slurm_dir, "tasks", "*", "jobs.jsonl"))):
        if "bench-empty" in b:
            continue
        d = os.path.dirname(b)
        subs = jsonl(b)
        results = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(d, "result-*.json")),
                                                       key=lambda p: int(p.rsplit("-", 1)[1].split(".")[0]))]
        if not results:
            continue
        measured = max(r["finished_at"] for r in results) - min(s["submitted_at"] for s in subs)
        batches.append((os.path.basename(d), [r["seconds"] for r in results], measured))
    in_batches = sum(m for _, _, m in batches)
    coordinator = slurm_wall - in_batches
    tasks = sum(len(s) for _, s, _ in batches)
    mean_task = sum(sum(s) for _, s, _ in batches) / tasks

    def estimate(n):
        return coordinator + sum(makespan([x + slurm_cost for x in s], n) for _, s, _ in batches)

    print(f"machine: {cpus} CPUs; SLURM_CONF={conf}")
    print(f"8 no-work tasks (`true`), {cpus} at once: {true_wall:.1f} s submission to all done, "
          f"{true_wall * cpus / 8:.2f} s per task per slot")
    print(f"8 no-work edgenas workers, {cpus} at once: {empty_wall:.1f} s submission to the last result "
          f"({empty_wall * cpus / 8:.2f} s per task per slot; the worker opens the run in {worker_open:.2f} s)")
    print(f"proxy search, {evaluations} candidates + 3 baselines, --proxy-steps {a.proxy_steps}: "
          f"local {local_wall:.1f} s, slurm (one task per node at a time) {slurm_wall:.1f} s "
          f"({slurm_wall / local_wall:.2f}x); journals equal: {same}")
    print(f"{tasks} tasks in {len(batches)} batches, mean task {mean_task:.2f} s (opening included); "
          f"coordinator's own time {coordinator:.1f} s")
    for n in [1, 2, 4, 8, 16]:
        est = estimate(n)
        note = f" (measured {slurm_wall:.1f} s)" if n == 1 else ""
        print(f"  estimated on {n:>2} nodes: {est:6.1f} s, {local_wall / est:4.1f}x local{note}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
