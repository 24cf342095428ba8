"""pytest plugin: claim ownership, per-test verdict summaries (for `iclgd verify`) and records.

A test speaks for the claims its ``@pytest.mark.claim(ID, ...)`` marker declares (ids checked
against the registry at collection); its checks may only log under those ids. A test with no
claim marker is plumbing: its checks never become evidence, records or report rows.
``pytest --claim M2,S1`` runs the tests of those claims only. With ``ICLGD_RESULTS_DIR`` set, each
process appends one JSON line per test to ``tests-<worker>.jsonl`` there.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from .checks import LOG
from .verdicts import REFUTED


def _worker(config) -> str:
    return getattr(config, "workerinput", {}).get("workerid", "main")


def owned_claims(item) -> frozenset:
    return frozenset(a for m in item.iter_markers("claim") for a in m.args)


def pytest_addoption(parser):
    parser.addoption("--claim", dest="iclgd_claims", default="",
                     help="iclgd: run only the tests that speak for these claims (comma list of ids)")


def pytest_collection_modifyitems(config, items):
    from iclgd.theory import REGISTRY

    bad = sorted({(it.nodeid, c) for it in items for c in owned_claims(it) if c not in REGISTRY})
    if bad:
        raise pytest.UsageError(f"@pytest.mark.claim: unknown claim {bad[0][1]!r} in {bad[0][0]}; "
                                f"known: {', '.join(REGISTRY)}")
    wanted = {c.strip() for c in config.getoption("iclgd_claims").split(",") if c.strip()}
    if not wanted:
        return
    unknown = sorted(wanted - set(REGISTRY))
    if unknown:
        raise pytest.UsageError(f"--claim: unknown claim(s) {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
    keep = [it for it in items if owned_claims(it) & wanted]
    config.hook.pytest_deselected(items=[it for it in items if it not in keep])
    items[:] = keep


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    LOG.reset(owned_claims(item))
    item._iclgd_t0 = time.perf_counter()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "setup" and rep.skipped:
        _write(item, rep, None, skipped=True)
    if rep.when == "call":
        _write(item, rep, call, skipped=rep.skipped)


def _records(item, rep, call) -> tuple[list[str], list[dict], bool]:
    """(record ids, failing checks of the minimal example, whether the failure is a suite error)."""
    from . import records
    from .profile import active_name, run_seed

    notes = getattr(getattr(call, "excinfo", None) and call.excinfo.value, "__notes__", ()) if call else ()
    kw = dict(nodeid=item.nodeid, profile=active_name(), seed=run_seed(item.config))
    ids, failing, error = [], [], False
    if rep.failed:
        refuted = [c for c in LOG.last if c.verdict == REFUTED]
        failing = [c.to_json() for c in refuted]
        error = not refuted  # a claim test that failed without a refuted check: the suite's own failure
        for claim in dict.fromkeys(c.claim for c in refuted):
            mine = sorted((c for c in refuted if c.claim == claim), key=lambda c: -c.ratio)
            ids.append(records.write(records.build(mine, verdict=REFUTED, longrepr=str(rep.longrepr),
                                                   notes=tuple(notes), **kw)))
    for (claim, verdict), c in LOG.flagged.items():
        if rep.failed and verdict == REFUTED:
            continue  # recorded above, from the minimal example
        ids.append(records.write(records.build([c], verdict=verdict, **kw)))
    return ids, failing, error


def _write(item, rep, call, skipped: bool):
    evidence = LOG.evidence and not skipped
    record_ids, failing, error = _records(item, rep, call) if evidence else ([], [], False)
    out = os.environ.get("ICLGD_RESULTS_DIR")
    if not out:
        return
    row = {
        "nodeid": item.nodeid,
        "claims": sorted(owned_claims(item)),
        "plumbing": not owned_claims(item),
        "outcome": "skipped" if skipped else rep.outcome,
        "error": error or (rep.failed and not evidence and not skipped),
        "examples": LOG.examples or (0 if skipped else 1),
        "counts": LOG.counts if evidence else {},
        "worst": {k: c.to_json() for k, c in LOG.worst.items()} if evidence else {},
        "flagged": [c.to_json() for c in LOG.flagged.values()] if evidence else [],
        "failing": failing,
        "points": LOG.points if evidence else [],
        "records": record_ids,
        "seconds": round(time.perf_counter() - getattr(item, "_iclgd_t0", time.perf_counter()), 3),
        "markers": sorted({m.name for m in item.iter_markers()} & {"gpu", "llm", "slow"}),
    }
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    with open(path / f"tests-{_worker(item.config)}.jsonl", "a") as f:
        f.write(json.dumps(row, allow_nan=False, default=str) + "\n")
