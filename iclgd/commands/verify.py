"""`iclgd verify` — the main job: run the suite (pytest -n auto under a profile and tiers) and
write a report folder (report.md, report.json, figures) with one row per claim."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from iclgd.cli import UsageError

PROFILES = {"quick": "dev", "dev": "dev", "ci": "ci", "nightly": "nightly"}
TIERS = {  # pytest marker expression of each tier
    "theory": "not slow and not llm and not gpu",
    "trained": "slow and not gpu and not llm",
    "llm": "llm and not gpu",
    "gpu": "gpu",
}
DEFAULT_TIERS = "theory,trained,llm"


def add_parser(sub):
    p = sub.add_parser("verify", help="run the suite and write the verification report",
                       description="Run the property suite and write report.md/report.json/figures.")
    p.add_argument("--profile", default="quick", help="quick (default) | ci | nightly")
    p.add_argument("--tiers", default=DEFAULT_TIERS, help=f"comma list of {', '.join(TIERS)} (default {DEFAULT_TIERS})")
    p.add_argument("--out", default="reports/latest", help="report folder (replaced)")
    p.add_argument("--records", default=".iclgd/counterexamples", help="counterexample records folder")
    p.add_argument("--workers", default="auto", help="pytest-xdist workers: auto, or a number (0 = no xdist)")
    p.add_argument("--model", help="local causal LM (HF folder or .gguf) for the llm tier (default SmolLM2)")
    p.add_argument("--perturb", help="deliberately break claims, e.g. M1:0.05 (scales Γ*, η, L* by 1+ε)")
    p.add_argument("-k", dest="keyword", help="pytest -k expression to select tests")
    p.add_argument("--suite", help="the repository's tests/ folder (default: next to the installed package)")
    p.add_argument("--json", action="store_true", help="print report.json instead of the table")
    return p


def _suite(args) -> Path:
    path = Path(args.suite) if args.suite else Path(__file__).resolve().parents[2] / "tests"
    if not path.is_dir():
        raise UsageError(f"--suite: tests folder {path} does not exist")
    return path


def _tiers(text: str) -> list[str]:
    tiers = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in tiers if t not in TIERS]
    if bad or not tiers:
        raise UsageError(f"--tiers: unknown tier(s) {', '.join(bad) or '(none)'}; choose from {', '.join(TIERS)}")
    return tiers


def run(args) -> int:
    from iclgd.properties import report
    from iclgd.theory import SettingError
    from iclgd.theory.claims import perturbations

    if args.profile not in PROFILES:
        raise UsageError(f"--profile: unknown profile {args.profile!r}; choose quick, ci or nightly")
    tiers, suite = _tiers(args.tiers), _suite(args)
    if args.workers != "auto" and not args.workers.isdigit():
        raise UsageError(f"--workers: expected 'auto' or a number, got {args.workers!r}")
    if args.model and not Path(args.model).exists():
        raise UsageError(f"--model: {args.model} does not exist")
    env = dict(os.environ, ICLGD_PROFILE=PROFILES[args.profile])
    if args.perturb:
        try:
            perturbations(args.perturb)
        except SettingError as e:
            raise UsageError(f"--perturb: {e.message}") from None
        env["ICLGD_PERTURB"] = args.perturb
    if args.model:
        env["ICLGD_MODEL"] = str(Path(args.model).resolve())
    out = Path(args.out).resolve()
    raw, records = out / "raw", Path(args.records).resolve()
    if out.exists():
        shutil.rmtree(out)
    raw.mkdir(parents=True)
    env.update(ICLGD_RESULTS_DIR=str(raw), ICLGD_COUNTEREXAMPLES_DIR=str(records))
    marker = " or ".join(f"({TIERS[t]})" for t in tiers)
    cmd = [sys.executable, "-m", "pytest", str(suite), "-m", marker, "-p", "no:cacheprovider", "-q",
           "--tb=short", "--rootdir", str(suite.parent)]
    if args.workers != "0":
        cmd += ["-n", args.workers]
    if args.keyword:
        cmd += ["-k", args.keyword]
    t0 = time.perf_counter()
    log = open(out / "pytest.log", "w")
    if args.json or not sys.stderr.isatty():
        rc = subprocess.call(cmd, cwd=suite.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
    else:  # stream pytest's progress to the terminal and keep a copy
        proc = subprocess.Popen(cmd, cwd=suite.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            sys.stderr.write(line)
            log.write(line)
        rc = proc.wait()
    log.close()
    seconds = time.perf_counter() - t0
    rows = report.load_rows(raw)
    claims = report.summarise(rows)
    figs = report.figures(rows, out)
    ids = {i for c in claims for i in c["records"]}
    links = {i: os.path.relpath(records / f"{i}.json", out) for i in ids if (records / f"{i}.json").exists()}
    meta = {"profile": args.profile, "tiers": tiers, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(seconds, 1), "pytest_exit": rc, "perturb": args.perturb, "command": cmd}
    other_failures = [r["nodeid"] for r in rows if r["outcome"] == "failed" and not r["claims"]]
    doc = {**meta, "claims": claims, "figures": figs, "other_failures": other_failures,
           "records_dir": str(records), "tests": len(rows)}
    (out / "report.json").write_text(json.dumps(doc, indent=2, default=str))
    (out / "report.md").write_text(report.markdown(meta, claims, figs, links))
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    else:
        print(report.table(claims))
        print(f"\n{len(rows)} tests in {seconds:.0f} s (profile {args.profile}; tiers {', '.join(tiers)}); "
              f"report: {out / 'report.md'}")
        if other_failures:
            print("failures outside any claim: " + ", ".join(other_failures))
    failed = any(c["status"] == "failed" for c in claims) or bool(other_failures)
    if rc not in (0, 1, 5):  # pytest usage/internal error
        print(f"pytest exited with {rc}; see {out / 'pytest.log'}", file=sys.stderr)
        return rc
    return 1 if failed or rc == 1 else 0
