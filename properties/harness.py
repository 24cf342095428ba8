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

from .checks import recording
from .tiers import TIER_MARKERS
from .verdicts import REFUTED


def _worker(config) -> str:
    return getattr(config, "workerinput", {}).get("workerid", "main")


def owned_claims(item) -> frozenset:
    return frozenset(a for m in item.iter_markers("claim") for a in m.args)


def pytest_configure(config):
    config.addinivalue_line("markers", "claim(*ids): the registered claims a test speaks for (iclgd harness)")


def pytest_addoption(parser):
    parser.addoption("--claim", dest="iclgd_claims", default="",
                     help="iclgd: run only the tests that speak for these claims (comma list of ids)")
    parser.addoption("--iclgd-shard", dest="iclgd_shard", default="",
                     help="iclgd: run shard K of N (K/N, 0 <= K < N): a partition of the collected tests by "
                     "a hash of their node ids (used by `iclgd verify --launcher submitit`)")
    parser.addoption("--iclgd-replay", dest="iclgd_replay", default="",
                     help="iclgd: replay one Hypothesis case, given as a record's hypothesis_blob "
                     "(@reproduce_failure('VERSION', b'BLOB')), in every selected test")


def pytest_collection_modifyitems(config, items):
    if not config.getoption("iclgd_claims") and not any(owned_claims(it) for it in items):
        return _select(config, items)  # a run that uses no claim never loads the registry (the pytest11 plugin)
    from iclgd.theory import REGISTRY

    bad = sorted({(it.nodeid, c) for it in items for c in owned_claims(it) if c not in REGISTRY})
    if bad:
        raise pytest.UsageError(f"@pytest.mark.claim: unknown claim {bad[0][1]!r} in {bad[0][0]}; "
                                f"known: {', '.join(REGISTRY)}")
    _select(config, items)
    wanted = {c.strip() for c in config.getoption("iclgd_claims").split(",") if c.strip()}
    if not wanted:
        return
    unknown = sorted(wanted - set(REGISTRY))
    if unknown:
        raise pytest.UsageError(f"--claim: unknown claim(s) {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
    keep = [it for it in items if owned_claims(it) & wanted]
    config.hook.pytest_deselected(items=[it for it in items if it not in keep])
    items[:] = keep


def _select(config, items) -> None:
    blob = config.getoption("iclgd_replay")
    if blob:
        _replay(items, blob)
    shard = config.getoption("iclgd_shard")
    if shard:
        _shard(config, items, shard)


def shard_of(nodeid: str, n: int) -> int:
    """The shard (0..n-1) a test belongs to: a stable hash of its node id, so N shards partition the suite."""
    import hashlib

    return int.from_bytes(hashlib.sha256(nodeid.encode()).digest()[:8], "big") % n


def _shard(config, items, text: str) -> None:
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and int(n) >= 1 and int(k) < int(n)):
        raise pytest.UsageError(f"--iclgd-shard: {text!r} does not partition the suite; expected K/N with 0 <= K < N")
    keep = [it for it in items if shard_of(it.nodeid, int(n)) == int(k)]
    config.hook.pytest_deselected(items=[it for it in items if it not in keep])
    items[:] = keep


def _replay(items, text: str) -> None:
    """Apply ``@reproduce_failure(version, blob)`` to the selected Hypothesis tests — Hypothesis's
    own replay, without editing the source (the decorator only sets this attribute)."""
    import ast
    import re

    m = re.fullmatch(r"@?reproduce_failure\((['\"])([^'\"]+)\1,\s*(b?['\"][^'\"]+['\"])\)", text.strip())
    if not m:
        raise pytest.UsageError(f"--iclgd-replay: expected @reproduce_failure('VERSION', b'BLOB'), got {text!r}")
    version, blob = m.group(2), ast.literal_eval(m.group(3))
    for it in items:
        fn = getattr(getattr(it, "obj", None), "__func__", getattr(it, "obj", None))
        if fn is not None and hasattr(fn, "hypothesis"):
            fn._hypothesis_internal_use_reproduce_failure = (version, blob)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item._iclgd_recording = recording(owned_claims(item))  # one Recorder per test, setup to teardown
    item._iclgd_recorder = item._iclgd_recording.__enter__()
    item._iclgd_t0 = time.perf_counter()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    ctx = getattr(item, "_iclgd_recording", None)
    if ctx is not None:
        ctx.__exit__(None, None, None)
        item._iclgd_recording = None


@pytest.fixture
def recorder(request):
    """The running test's :class:`~iclgd.properties.checks.Recorder`: the checks it made so far (by
    claim, verdict and example) — what the harness turns into the report row and the records."""
    return request.node._iclgd_recorder


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "setup" and rep.skipped:
        _write(item, rep, None, skipped=True)
    if rep.when == "call":
        _write(item, rep, call, skipped=rep.skipped)


def save_failure(item, blob: str | None) -> bool:
    """Write a failing test's minimal case into the directory example database ``$ICLGD_EXAMPLE_DB``
    in Hypothesis's own format (its key for this test and its choice-sequence encoding), so a
    derandomized run — where Hypothesis keeps no database — still leaves what the developer profile
    replays (``ICLGD_SHARED_DB``). Uses Hypothesis internals: ``function_digest``, ``decode_failure``."""
    import re

    path = os.environ.get("ICLGD_EXAMPLE_DB")
    inner = getattr(getattr(getattr(item, "obj", None), "hypothesis", None), "inner_test", None)
    m = re.search(r"reproduce_failure\((['\"])([^'\"]+)\1,\s*b?(['\"])([^'\"]+)\3\)", blob or "")
    if not (path and inner is not None and m):
        return False
    from hypothesis.core import decode_failure
    from hypothesis.database import DirectoryBasedExampleDatabase, choices_to_bytes
    from hypothesis.internal.reflection import function_digest

    DirectoryBasedExampleDatabase(path).save(function_digest(inner), choices_to_bytes(decode_failure(m.group(4).encode())))
    return True


def _records(item, rep, call) -> tuple[list[str], list[dict], bool]:
    """(record ids, failing checks of the minimal example, whether the failure is a suite error)."""
    log = item._iclgd_recorder
    from . import records
    from .profile import active_name, run_seed

    notes = getattr(getattr(call, "excinfo", None) and call.excinfo.value, "__notes__", ()) if call else ()
    kw = dict(nodeid=item.nodeid, profile=active_name(), seed=run_seed(item.config))
    ids, failing, error = [], [], False
    if rep.failed:
        refuted = [c for c in log.last if c.verdict == REFUTED]
        failing = [c.to_json() for c in refuted]
        error = not refuted  # a claim test that failed without a refuted check: the suite's own failure
        for claim in dict.fromkeys(c.claim for c in refuted):
            mine = sorted((c for c in refuted if c.claim == claim), key=lambda c: -c.ratio)
            rec = records.build(mine, verdict=REFUTED, longrepr=str(rep.longrepr), notes=tuple(notes), **kw)
            ids.append(records.write(rec))
        if refuted:
            save_failure(item, rec["hypothesis_blob"])
    for (claim, verdict), c in log.flagged.items():
        if rep.failed and verdict == REFUTED:
            continue  # recorded above, from the minimal example
        ids.append(records.write(records.build([c], verdict=verdict, **kw)))
    return ids, failing, error


def _write(item, rep, call, skipped: bool):
    log = item._iclgd_recorder
    evidence = log.evidence and not skipped
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
        "examples": log.examples or (0 if skipped else 1),
        "counts": log.counts if evidence else {},
        "worst": {k: c.to_json() for k, c in log.worst.items()} if evidence else {},
        "flagged": [c.to_json() for c in log.flagged.values()] if evidence else [],
        "inconclusive": {k: c.to_json() for k, c in log.inconclusive.items()} if evidence else {},
        "failing": failing,
        "points": log.points if evidence else [],
        "records": record_ids,
        "seconds": round(time.perf_counter() - getattr(item, "_iclgd_t0", time.perf_counter()), 3),
        "markers": sorted({m.name for m in item.iter_markers()} & {m for m, _ in TIER_MARKERS}),
    }
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    with open(path / f"tests-{_worker(item.config)}.jsonl", "a") as f:
        f.write(json.dumps(row, allow_nan=False, default=str) + "\n")
