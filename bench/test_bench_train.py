"""Time to target error: one pytest-benchmark per case × seed × method, run seed-major (every method
on seed 0, then on seed 1, …) so that a change in the machine's load falls on all methods alike.

The benchmarked call is one run until its last target (1%) — or its budget — so each stored time is
a time to 1%; seconds and prompts at every target are in ``extra_info``, and the session's medians
and ratios are printed at the end and stored with the run (bench/conftest.py). Not part of the
default suite (testpaths = tests); run through ``python bench/bench_train.py`` or

    pytest bench/test_bench_train.py -p no:xdist --benchmark-autosave [--bench-device cuda] [--bench-seeds 5]
    pytest bench/test_bench_train.py -p no:xdist --benchmark-compare        # against the last stored run
"""
from dataclasses import asdict

import time_to_target as ttt
from time_to_target import RUNS

LABELS = {"floor": ("floor", 1), "ours-1": ("ours", 1), "ours-R": ("ours", None), "plain": ("plain", 1), "einsum": ("einsum", 1),
          "reference": ("reference", 1)}


def pytest_generate_tests(metafunc):
    seeds = range(metafunc.config.option.bench_seeds)
    metafunc.parametrize("case, seed, label", [(c, s, lab) for c in ttt.cases() for s in seeds for lab in LABELS],
                         ids=lambda v: str(v))


def test_time_to_target(benchmark, bench_opts, case, seed, label):
    claim, setting = ttt.cases()[case]
    method, replicas = LABELS[label]
    runs = RUNS.setdefault((case, label), [])
    benchmark.group = case
    r = benchmark.pedantic(ttt.run, args=(method, claim, setting, seed, bench_opts.bench_device),
                           kwargs=dict(replicas=replicas, max_seconds=bench_opts.bench_max_seconds),
                           rounds=1, iterations=1)
    runs.append(r)
    benchmark.extra_info.update(seed=seed, device=bench_opts.bench_device, **asdict(r))
