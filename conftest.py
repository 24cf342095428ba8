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


def pytest_collection_modifyitems(config, items):
    gpu_items = [it for it in items if it.get_closest_marker("gpu")]
    if not gpu_items or gpu_on_cpu() or _cuda_available():
        return
    skip = pytest.mark.skip(reason="gpu tier: no CUDA device (set ICLGD_GPU_ON_CPU=1 to run it tiny on CPU)")
    for it in gpu_items:
        it.add_marker(skip)


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
