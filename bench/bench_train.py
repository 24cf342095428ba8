"""Time and prompts to 2% and 1% relative error ‖Γ − Γ*‖/‖Γ*‖, as ratios, in one run (issue 14):
`iclgd train`'s trainer (one replica and its default count) against the reference notebooks' loop (a),
a stronger plain loop (b) and the statistical floor (least squares over the Γ features); see
bench/time_to_target.py for the methods and bench/conftest.py for the table.

A thin front end to pytest-benchmark: results are stored under bench/results/ (one JSON per run,
named by commit) and ``--compare`` compares this run's timings with the last stored one.

    python bench/bench_train.py [--device cuda] [--seeds 5] [--max-seconds 60] [--compare] [-k M1]
"""
from __future__ import annotations

import argparse
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
STORAGE = os.path.join(HERE, "results")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--seeds", type=int, default=5, help="seeds per method and case (medians over them)")
    p.add_argument("--max-seconds", type=float, default=60, help="budget per plain-loop run (lower bounds beyond)")
    p.add_argument("--compare", action="store_true", help="compare with the last stored run")
    p.add_argument("-k", dest="select", help="pytest -k expression, e.g. M1 or 'M1 and not reference'")
    a = p.parse_args(argv)
    import torch

    try:
        device = torch.device(a.device)
    except RuntimeError as e:
        return _usage(f"--device: {e}")
    if device.type == "cuda" and not torch.cuda.is_available():
        return _usage("--device: CUDA requested but torch sees no CUDA device")
    if a.seeds < 1:
        return _usage(f"--seeds: must be >= 1, got {a.seeds}")
    if not a.max_seconds > 0:
        return _usage(f"--max-seconds: must be > 0, got {a.max_seconds}")
    args = [os.path.join(HERE, "test_bench_train.py"), "-p", "no:xdist", "-q", "--benchmark-autosave",
            f"--benchmark-storage=file://{STORAGE}", "--benchmark-columns=min,median,max,rounds",
            "--benchmark-sort=name", "--benchmark-group-by=group", f"--bench-device={a.device}", f"--bench-seeds={a.seeds}",
            f"--bench-max-seconds={a.max_seconds}"]
    if a.compare:
        args.append("--benchmark-compare")
    if a.select:
        args += ["-k", a.select]
    return int(pytest.main(args))


def _usage(message: str) -> int:
    print(f"bench_train.py: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
