"""Hypothesis profiles and the size ranges that go with them — the one place both are defined.

``dev`` (local default), ``ci`` (derandomized, no example database, no deadline; chosen when ``CI`` is
set, and the default of ``iclgd verify``), ``quick`` (``iclgd verify --profile quick``: a third of the
examples at smaller sizes, fresh each run, theory tier only), ``nightly`` (many more examples, larger sizes).
``ICLGD_PROFILE`` or ``HYPOTHESIS_PROFILE`` override. ``ICLGD_EXAMPLE_DB=DIR`` gives any profile a
directory example database (CI and nightly upload it as an artifact; replayed by the dev profile).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from hypothesis import HealthCheck, settings


@dataclass(frozen=True)
class Scale:
    max_examples: int  # examples per cheap (exact / Monte Carlo) property
    trained_examples: int  # examples per trained-model property
    llm_examples: int  # examples per real-LM property (≈ 15 s each on CPU; 0: nightly only, the grid cells and the
    # shared probe carry the default run's evidence)
    d_max: int  # largest covariate dimension drawn
    n_max: int  # largest context length drawn
    gpu_d_max: int  # gpu tier: largest d
    gpu_n_max: int  # gpu tier: largest n
    derandomize: bool
    deadline_ms: int | None


PROFILES = {
    "dev": Scale(25, 3, 0, 4, 16, 16, 64, derandomize=False, deadline_ms=None),
    "ci": Scale(25, 3, 0, 4, 16, 16, 64, derandomize=True, deadline_ms=None),
    "quick": Scale(8, 1, 0, 3, 10, 8, 32, derandomize=False, deadline_ms=None),
    "nightly": Scale(300, 20, 8, 10, 64, 32, 128, derandomize=False, deadline_ms=None),
}


def active_name() -> str:
    name = os.environ.get("ICLGD_PROFILE") or os.environ.get("HYPOTHESIS_PROFILE")
    if not name:
        name = "ci" if os.environ.get("CI") else "dev"
    if name not in PROFILES:
        raise ValueError(f"ICLGD_PROFILE: unknown profile {name!r}; known: {', '.join(PROFILES)}")
    return name


def scale() -> Scale:
    return PROFILES[active_name()]


def gpu_on_cpu() -> bool:
    """The switch that runs the `gpu` tier tiny on CPU (CI sets it) so that code never rots."""
    return os.environ.get("ICLGD_GPU_ON_CPU", "") not in ("", "0")


def run_seed(config):
    """The run's ``--hypothesis-seed`` (None: derandomized or a fresh Hypothesis seed)."""
    try:
        return config.getoption("hypothesis_seed")
    except (ValueError, AttributeError):
        return None


def _database(s: Scale):
    """The example database of a profile (Hypothesis's own mechanism, no format of ours):

    - derandomized (``ci``): none — Hypothesis forbids one there, and a run is then a function of the
      code alone; the harness still writes each failing case into ``$ICLGD_EXAMPLE_DB`` when set (CI
      uploads it as an artifact) — :func:`iclgd.properties.harness.save_failure`;
    - ``dev`` / ``nightly``: a local directory (``$ICLGD_EXAMPLE_DB`` or .hypothesis/examples), and for
      ``dev`` also, read-only, the shared one named by ``$ICLGD_SHARED_DB``: a folder (e.g. a downloaded
      CI artifact) or ``github:OWNER/REPO`` (:class:`~hypothesis.database.GitHubArtifactDatabase`)."""
    from hypothesis.database import (DirectoryBasedExampleDatabase, GitHubArtifactDatabase, MultiplexedDatabase,
                                     ReadOnlyDatabase)

    path = os.environ.get("ICLGD_EXAMPLE_DB")
    if s.derandomize:
        return None
    local = DirectoryBasedExampleDatabase(path or ".hypothesis/examples")
    shared = os.environ.get("ICLGD_SHARED_DB", "")
    if not shared or s is not PROFILES["dev"]:
        return local
    if shared.startswith("github:"):
        owner, _, repo = shared[len("github:"):].partition("/")
        if not owner or not repo:
            raise ValueError(f"ICLGD_SHARED_DB: expected github:OWNER/REPO, got {shared!r}")
        remote = GitHubArtifactDatabase(owner, repo)
    elif os.path.isdir(shared):
        remote = DirectoryBasedExampleDatabase(shared)
    else:
        raise ValueError(f"ICLGD_SHARED_DB: {shared!r} is neither a folder nor github:OWNER/REPO")
    return MultiplexedDatabase(local, ReadOnlyDatabase(remote))


def register_profiles() -> str:
    for name, s in PROFILES.items():
        settings.register_profile(
            name,
            max_examples=s.max_examples,
            derandomize=s.derandomize,
            deadline=s.deadline_ms,
            database=_database(s),
            print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
    name = active_name()
    settings.load_profile(name)
    return name
