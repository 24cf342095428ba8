"""The suite's time, per commit: wall and CPU seconds of one whole run, per tier and the slowest tests.

Runs the suite (default: what CI runs, ``pytest -n auto`` on the ``ci`` profile with the gpu tier tiny on
CPU) once, reads the harness's per-test rows (``ICLGD_RESULTS_DIR``: seconds and tier markers of every
test) and stores one JSON per run under bench/results/suite/ named by commit and date, then prints it
beside the last stored run. The numbers live here, not in timed tests. A run on a shared machine says so:
the load average before and after is stored with it (a loaded machine inflates every wall time).

    .venv/bin/python bench/suite_time.py                    # the whole suite, as CI runs it
    .venv/bin/python bench/suite_time.py -- -m llm          # extra pytest arguments after --
    .venv/bin/python bench/suite_time.py --verify           # `iclgd verify` (default profile) instead
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / "bench" / "results" / "suite"


def summarise(rows: list[dict], top: int = 15) -> dict:
    """Seconds of test time (summed over workers) per tier (the report's own mapping) and per claim, and the
    slowest tests."""
    from iclgd.properties.report import tier_seconds

    per_claim: dict[str, float] = {}
    for r in rows:
        for c in r["claims"]:
            per_claim[c] = per_claim.get(c, 0.0) + r["seconds"]
    slow = sorted(rows, key=lambda r: -r["seconds"])[:top]
    return {"tests": len(rows), "test_seconds": round(sum(r["seconds"] for r in rows), 1),
            "tiers": dict(sorted(tier_seconds(rows).items())),
            "claims": {k: round(v, 1) for k, v in sorted(per_claim.items(), key=lambda kv: -kv[1])},
            "slowest": [{"test": r["nodeid"], "seconds": r["seconds"]} for r in slow]}


def _git(*args) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--verify", action="store_true", help="time `iclgd verify` (default profile) instead of pytest")
    p.add_argument("--workers", default="auto", help="pytest -n (default auto)")
    p.add_argument("--no-store", action="store_true", help="print only; store nothing")
    p.add_argument("extra", nargs="*", help="extra pytest arguments (after --)")
    a = p.parse_args(argv)
    raw = Path(tempfile.mkdtemp(prefix="iclgd-suite-"))
    env = {**os.environ, "ICLGD_RESULTS_DIR": str(raw)}
    if a.verify:
        cmd = [str(ROOT / ".venv" / "bin" / "iclgd"), "verify", "--out", str(raw / "report")]
        env.pop("ICLGD_RESULTS_DIR")
    else:
        env.update(CI="1", ICLGD_GPU_ON_CPU="1")
        cmd = [sys.executable, "-m", "pytest", "-n", a.workers, "-q", "-p", "no:cacheprovider", *a.extra]
    load0 = os.getloadavg()
    t0, ru0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    rc = subprocess.call(cmd, cwd=ROOT, env=env)
    wall, ru1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    rows_dir = raw / "report" if a.verify else raw
    rows = [json.loads(line) for f in sorted(rows_dir.rglob("tests-*.jsonl")) for line in f.read_text().splitlines()
            if line.strip()]
    out = {"commit": _git("rev-parse", "--short", "HEAD"), "dirty": bool(_git("status", "--porcelain", "-uno")),
           "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "command": cmd, "exit": rc,
           "wall_seconds": round(wall, 1), "cpu_seconds": round(ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime, 1),
           "cores": os.cpu_count(), "load_average_before": [round(x, 2) for x in load0],
           "load_average_after": [round(x, 2) for x in os.getloadavg()], **summarise(rows)}
    print(json.dumps(out, indent=1))
    previous = sorted(STORE.glob("*.json")) if STORE.is_dir() else []
    if previous:
        last = json.loads(previous[-1].read_text())
        print(f"last stored ({previous[-1].name}): wall {last['wall_seconds']} s, cpu {last['cpu_seconds']} s, "
              f"tiers {last['tiers']}; now: wall {out['wall_seconds']} s, cpu {out['cpu_seconds']} s, tiers {out['tiers']}")
    if not a.no_store:
        STORE.mkdir(parents=True, exist_ok=True)
        (STORE / f"{out['date'][:19].replace(':', '')}-{out['commit']}.json").write_text(json.dumps(out, indent=1) + "\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
