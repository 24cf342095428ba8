"""Root pytest configuration: Hypothesis profiles, tiers, and the check/counterexample harness."""
from __future__ import annotations

import os

import pytest

from iclgd.properties.profile import gpu_on_cpu, register_profiles

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PROFILE = register_profiles()
pytest_plugins = ["iclgd.properties.harness"]


def pytest_report_header(config):
    gpu = "tiny on CPU (ICLGD_GPU_ON_CPU)" if gpu_on_cpu() else "CUDA only"
    return f"iclgd: hypothesis profile {PROFILE!r}; gpu tier: {gpu}"


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.hookimpl(trylast=True)  # after -m / -k / --claim deselection: the order of what will run
def pytest_collection_modifyitems(config, items):
    items[:] = in_lanes(items, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    if not quality_selected(config):
        skip_q = pytest.mark.skip(reason="quality tier (calibration and false-alarm measurements, hundreds of "
                                  "replicates): runs nightly, or with ICLGD_QUALITY=1 or -m quality")
        for it in items:
            if it.get_closest_marker("quality"):
                it.add_marker(skip_q)
    gpu_items = [it for it in items if it.get_closest_marker("gpu")]
    if not gpu_items or gpu_on_cpu() or _cuda_available():
        return
    skip = pytest.mark.skip(reason="gpu tier: no CUDA device (set ICLGD_GPU_ON_CPU=1 to run it tiny on CPU)")
    for it in gpu_items:
        it.add_marker(skip)


def quality_selected(config) -> bool:
    return os.environ.get("ICLGD_QUALITY", "") not in ("", "0") or "quality" in (config.getoption("markexpr") or "")


def in_lanes(items, workers: int) -> list:
    """The llm tier's heavy tests (``@pytest.mark.llm(lane=k)``) first, lane k at the head of the chunk that
    pytest-xdist's load scheduler hands worker k mod ``workers`` at the start (its consecutive chunks of
    len(items) // workers // 4 tests), so the heavy units run side by side while the other tests fill in
    around them; each lane keeps collection order. ``@pytest.mark.llm(last=True)``: a test that reads what the
    lanes compute, at the end (so it does not wait on a lock while a unit is still being computed). Only the
    order changes, never what runs."""
    lanes: dict[int, list] = {}
    rest, last = [], []
    for it in items:
        m = it.get_closest_marker("llm")
        lane = m.kwargs.get("lane") if m is not None else None
        if m is not None and m.kwargs.get("last"):
            last.append(it)
        else:
            (rest if lane is None else lanes.setdefault(lane % max(workers, 1), [])).append(it)
    if not lanes and not last:
        return items
    chunk = max(len(items) // max(workers, 1) // 4, 2)
    out = []
    for w in range(max(workers, 1)):
        heavy = lanes.get(w, [])
        fill = max(chunk - len(heavy), 0) if w < workers - 1 else 0
        out += heavy + rest[:fill]
        rest = rest[fill:]
    return out + rest + last


@pytest.fixture(scope="session")
def device(request):
    """The torch device for the `gpu` tier: CUDA when present (xdist worker k uses GPU k mod count,
    so `pytest -n <number of GPUs>` spreads the tier one worker per GPU), else CPU behind the switch."""
    import torch

    if torch.cuda.is_available():
        worker_id = getattr(request.config, "workerinput", {}).get("workerid", "main")  # xdist worker gwK
        k = int(worker_id[2:]) if worker_id.startswith("gw") else 0
        return torch.device("cuda", k % torch.cuda.device_count())
    return torch.device("cpu")
