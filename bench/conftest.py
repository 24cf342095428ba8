"""pytest-benchmark wiring for bench/: options, the session's runs, and the ratio table.

The runs of every method are kept for the session; at the end the table of medians and ratios is
printed and written into pytest-benchmark's saved JSON (key ``iclgd_ratios``), so
``--benchmark-autosave`` stores them per commit and ``--benchmark-compare`` compares the timings.
"""
from __future__ import annotations

from dataclasses import asdict

import pytest

from time_to_target import RUNS  # (case, label) -> [Run], filled by test_bench_train.py



def pytest_addoption(parser):
    g = parser.getgroup("iclgd bench")
    g.addoption("--bench-device", default="cpu", help="torch device of every method (cpu, cuda, cuda:1)")
    g.addoption("--bench-seeds", type=int, default=5, help="seeds per method and case (the rounds)")
    g.addoption("--bench-max-seconds", type=float, default=60,
                help="time budget per plain-loop run; a run that misses counts with this time (a lower bound)")


@pytest.fixture(scope="session")
def bench_opts(request):
    import torch

    from time_to_target import warm_up

    o = request.config.option
    device = torch.device(o.bench_device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise pytest.UsageError("--bench-device: CUDA requested but torch sees no CUDA device")
    warm_up(device)
    return o


def ratio_table(config) -> list[dict]:
    from time_to_target import TARGETS, ratios

    return ratios(RUNS, TARGETS, config.option.bench_max_seconds)


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["iclgd_ratios"] = ratio_table(config)
    output_json["iclgd_runs"] = {f"{case}/{label}": [asdict(r) for r in runs] for (case, label), runs in RUNS.items()}


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not RUNS:
        return
    from time_to_target import format_ratios

    terminalreporter.write_sep("=", "time to target: ratios (medians over seeds)")
    terminalreporter.write_line(format_ratios(ratio_table(config), config.option.bench_max_seconds))
