"""pytest plugin: per-test check summaries (for `iclgd verify`) and counterexample records.

Workers log what their tests checked; on a failure the checks of the minimal example become a
counterexample record (:mod:`iclgd.properties.records`). With ``ICLGD_RESULTS_DIR`` set, each
process appends one JSON line per test to ``tests-<worker>.jsonl`` there.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from .checks import LOG


def _worker(config) -> str:
    return getattr(config, "workerinput", {}).get("workerid", "main")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    LOG.reset()
    item._iclgd_t0 = time.perf_counter()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "setup" and rep.skipped:
        _write(item, rep, skipped=True)
    if rep.when != "call":
        return
    _write(item, rep, skipped=rep.skipped)


def _write(item, rep, skipped: bool):
    claims = sorted(LOG.claims | {m.args[0] for m in item.iter_markers("claim") if m.args})
    record_ids = []
    if rep.failed and LOG.last and not skipped:
        from .records import write_for_failure

        record_ids = write_for_failure(item, rep, LOG)
    findings = LOG.findings if rep.passed and not skipped else []
    if findings:  # the test reports, rather than fails on, a claim that did not hold: record it
        from .records import write_for_finding

        record_ids += [write_for_finding(item, c) for c in findings]
    for c in LOG.refuted:
        from .records import write_for_refutation

        record_ids.append(write_for_refutation(item, c))
    out = os.environ.get("ICLGD_RESULTS_DIR")
    if not out:
        return
    row = {
        "nodeid": item.nodeid,
        "claims": claims,
        "outcome": "skipped" if skipped else rep.outcome,
        "examples": LOG.examples or (0 if skipped else 1),
        "worst": LOG.worst.to_json() if LOG.worst else None,
        "refuted": [c.to_json() for c in LOG.refuted],
        "failed": ([c.to_json() for c in LOG.last if c.expect == "hold" and not c.holds] if rep.failed
                   else [c.to_json() for c in findings]),
        "findings": len(findings),
        "points": LOG.points[:2000],
        "records": record_ids,
        "seconds": round(time.perf_counter() - getattr(item, "_iclgd_t0", time.perf_counter()), 3),
        "markers": sorted({m.name for m in item.iter_markers()} & {"gpu", "llm", "slow"}),
    }
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    with open(path / f"tests-{_worker(item.config)}.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
