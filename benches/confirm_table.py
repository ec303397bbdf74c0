#!/usr/bin/env python3
"""Baseline verdicts of several searches, as each search saw them and as `edgenas confirm`
retrained them under new seeds: one Markdown row per search and baseline, then the mean gap
and its spread over the searches for each baseline.

    for s in 0 1 2 3 4; do edgenas confirm runs/cnw-s$s --repeats 2; done
    python3 benches/confirm_table.py runs/cnw-s0 runs/cnw-s1 runs/cnw-s2 runs/cnw-s3 runs/cnw-s4

A search's own gap compares one training of each model, and its winner is the most accurate
of several on that test set; the confirmed gap is the mean over the new seeds.
"""
import json
import pathlib
import statistics
import sys


def load(run):
    run = pathlib.Path(run)
    summary = json.loads((run / "summary.json").read_text())
    confirm = json.loads((run / "confirm.json").read_text())
    return summary, confirm


def points(x):
    return f"{100 * x:+.2f}"


def main(runs):
    if not runs:
        sys.exit(__doc__)
    rows, by_baseline = [], {}
    for run in runs:
        summary, confirm = load(run)
        seed = json.loads((pathlib.Path(run) / "config.json").read_text())["seed"]
        for c in confirm["comparisons"]:
            name = c["baseline"].removeprefix("baseline-")
            by_baseline.setdefault(name, []).append((c["run_gap"], c["mean_gap"], c["gaps"]))
            rows.append(
                f"| {seed} | {name} | {c['model']} | {c['model_measured_ms']:.3f} / {c['baseline_measured_ms']:.3f} ms"
                f" | {points(c['run_gap'])} | {', '.join(points(g) for g in c['gaps'])}"
                f" | {points(c['mean_gap'])} |"
            )
        for b in confirm["no_faster_winner"]:
            rows.append(f"| {seed} | {b.removeprefix('baseline-')} | none as fast | | | | |")
    print("| search seed | baseline | winner as fast | measured, winner / baseline | search gap | new seeds | confirmed gap |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print()
    print("| baseline | searches | search gap, mean ± sd | confirmed gap, mean ± sd | searches with the winner ahead (confirmed) | new trainings with the winner ahead |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, v in by_baseline.items():
        run_gaps = [r for r, _, _ in v]
        means = [m for _, m, _ in v]
        every = [g for _, _, gs in v for g in gs]
        sd = lambda x: statistics.stdev(x) if len(x) > 1 else 0.0
        print(
            f"| {name} | {len(v)} | {points(statistics.mean(run_gaps))} ± {100 * sd(run_gaps):.2f}"
            f" | {points(statistics.mean(means))} ± {100 * sd(means):.2f}"
            f" | {sum(m > 0 for m in means)} of {len(means)} | {sum(g > 0 for g in every)} of {len(every)} |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
