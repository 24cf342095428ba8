"""`iclgd verify` — the main job: run the suite (pytest under a profile and tiers) and write a report
folder (report.md, report.json, figures) with one row per claim.

Exit codes: 0 no claim ``refuted`` and every expected refutation found; 1 otherwise (or a claim
test failed without a verdict); 2 bad input; 3 no test ran; 4 pytest itself failed (usage or
internal error, interrupted). ``--strict`` also fails (1) on finding / inconclusive / not-reached.
The report folder is iclgd's own: built in a temporary sibling and swapped in at the end, a
non-empty folder without iclgd's marker is refused, and concurrent runs on one folder are locked out.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import math
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from iclgd.cli import UsageError
from iclgd.properties.tiers import TIERS as TIER_NAMES
from iclgd.properties.tiers import marker_expression

PROFILES = {"quick": "quick", "dev": "dev", "ci": "ci", "nightly": "nightly"}
# pytest marker expression of each tier; tooling is the suite's own tools (CLI processes, records, verify itself,
# plugins, bench): no claim's evidence, so not in the report's default tiers (the README's pytest runs them)
TIERS = {t: marker_expression(t) for t in TIER_NAMES}
DEFAULT_TIERS = "theory,trained,llm"
# --profile quick: the closed forms' checks at small sizes, about a minute; the trained tier's models train to fixed
# budgets (≈ 80 s of test time at any profile) and the llm tier's grid cells take minutes: --tiers adds them
QUICK_TIERS = "theory"
MARKER = ".iclgd-report"  # the file that makes a folder iclgd's own report folder
EXIT_NO_TESTS, EXIT_PYTEST = 3, 4
SEED_MAX = 2**63 - 1


def add_parser(sub):
    p = sub.add_parser("verify", help="run the suite and write the verification report",
                       description="Run the property suite and write report.md/report.json/figures. Exit codes: "
                       "0 no claim refuted and every expected refutation found; 1 otherwise; 2 bad input; "
                       "3 no test ran; 4 pytest failed (usage/internal error).")
    p.add_argument("--profile", default="ci",
                   help="ci (default: derandomized, reproducible) | quick (a third of the examples, smaller sizes, "
                   "theory tier only: about a minute) | nightly")
    p.add_argument("--seed", type=str, default=None,
                   help=f"fresh examples from this Hypothesis seed (0..{SEED_MAX}; implies the quick profile "
                   "unless --profile is given)")
    p.add_argument("--fresh", action="store_true", help="fresh examples from a newly drawn seed (printed in the report)")
    p.add_argument("--tiers", default=None, help=f"comma list of {', '.join(TIERS)} (default {DEFAULT_TIERS}; "
                   f"{QUICK_TIERS} with --profile quick)")
    p.add_argument("--claims", default="", help="comma list of claim ids: run only their tests")
    p.add_argument("--strict", action="store_true", help="also exit 1 on finding / inconclusive / not-reached")
    p.add_argument("--out", default="reports/latest", help="report folder (iclgd's own: replaced atomically)")
    p.add_argument("--records", default=None,
                   help="counterexample records folder (default $ICLGD_COUNTEREXAMPLES_DIR or .iclgd/counterexamples)")
    p.add_argument("--workers", default="auto", help="pytest-xdist workers: auto, or a number (0 = no xdist)")
    p.add_argument("--model", help="local causal LM (HF folder or .gguf) for the llm tier (default SmolLM2)")
    p.add_argument("--perturb", help="deliberately break claims, e.g. M1:0.05 (scales Γ*, η, L* by 1+ε); "
                   "records go to <records>/perturbed")
    p.add_argument("-k", dest="keyword", help="pytest -k expression to select tests")
    p.add_argument("--suite", help="the repository's tests/ folder (default: next to the installed package)")
    p.add_argument("--example-db", help="directory example database the run writes failing cases to "
                   "(Hypothesis's format; default $ICLGD_EXAMPLE_DB)")
    g = p.add_argument_group("sharded runs (an existing engine: Slurm through submitit)")
    g.add_argument("--launcher", choices=("local", "submitit"), default="local",
                   help="local (default): one pytest here; submitit: one job per tier × shard, a Slurm job array "
                   "(submitit's local executor where no Slurm is present)")
    g.add_argument("--shards", default="1", help="submitit: shards per tier (a hash partition of the tests; default 1)")
    g.add_argument("--cluster", choices=("auto", "slurm", "local"), default="auto",
                   help="submitit executor: auto (Slurm when sbatch is on PATH, else local), slurm, local")
    g.add_argument("--slurm-partition", help="submitit: Slurm partition")
    g.add_argument("--gpus-per-job", default="0", help="submitit: GPUs per job (default 0; 1 for the gpu tier)")
    g.add_argument("--time-limit", default="120", help="submitit: minutes per job (default 120)")
    g.add_argument("--work", help="submitit: shard work folder (default .<out>.shards beside --out); kept "
                   "until the merged report is written")
    g.add_argument("--resume", action="store_true", help="submitit: rerun only the shards that did not finish")
    p.add_argument("--json", action="store_true", help="print report.json instead of the table")
    return p


def _suite(args) -> Path:
    path = Path(args.suite).resolve() if args.suite else Path(__file__).resolve().parents[2] / "tests"
    if not path.is_dir():
        raise UsageError(f"--suite: tests folder {path} does not exist")
    return path


def _tiers(text: str) -> list[str]:
    tiers = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in tiers if t not in TIERS]
    if bad or not tiers:
        raise UsageError(f"--tiers: unknown tier(s) {', '.join(bad) or '(none)'}; choose from {', '.join(TIERS)}")
    return tiers


def _claims(text: str) -> list[str]:
    from iclgd.theory import REGISTRY

    ids = [c.strip() for c in text.split(",") if c.strip()]
    bad = [c for c in ids if c not in REGISTRY]
    if bad:
        raise UsageError(f"--claims: unknown claim(s) {', '.join(bad)}; known: {', '.join(REGISTRY)}")
    return ids


def _perturb(text: str) -> dict[str, float]:
    from iclgd.theory import REGISTRY, SettingError
    from iclgd.theory.claims import perturbations

    try:
        eps = perturbations(text)
    except SettingError as e:
        raise UsageError(f"--perturb: {e.message}") from None
    for cid, v in eps.items():
        if cid not in REGISTRY or REGISTRY[cid].predict_fn is None:
            known = ", ".join(k for k, c in REGISTRY.items() if c.predict_fn is not None)
            raise UsageError(f"--perturb: {cid!r} is not a claim with a closed form; known: {known}")
        if not math.isfinite(v) or v == 0 or v <= -1:
            raise UsageError(f"--perturb: {cid}:{v} must be a finite non-zero ε > -1")
    if not eps:
        raise UsageError("--perturb: expected CLAIM:EPS[,CLAIM:EPS...]")
    return eps


def _seed(args) -> int | None:
    if args.seed is not None and args.fresh:
        raise UsageError("--seed: give either --seed N or --fresh, not both")
    if args.fresh:
        return secrets.randbelow(SEED_MAX)
    if args.seed is None:
        return None
    if not args.seed.isdigit() or int(args.seed) > SEED_MAX:
        raise UsageError(f"--seed: expected an integer in 0..{SEED_MAX}, got {args.seed!r}")
    return int(args.seed)


def _out_dir(text: str) -> Path:
    """The report folder, refused unless it is new, empty, or already iclgd's (it carries MARKER)."""
    if not text.strip():
        raise UsageError("--out: empty path")
    out = Path(text).expanduser().resolve()
    if out == Path(out.anchor) or out == Path.home().resolve() or out == Path.cwd().resolve():
        raise UsageError(f"--out: refusing to use {out} as a report folder (it would be replaced)")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise UsageError(f"--out: {out} is not empty and is not an iclgd report folder (no {MARKER}); "
                         "choose another folder")
    _writable_dir("--out", out.parent)
    return out


def _writable_dir(flag: str, path: Path) -> Path:
    """``path`` resolved, created if missing, and writable — else a one-line error naming ``flag``."""
    path = path.expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{flag}: cannot create {path} ({e.strerror})") from None
    if not os.access(path, os.W_OK):
        raise UsageError(f"{flag}: {path} is not writable")
    return path


class _Lock:
    """An exclusive, non-blocking lock on ``<out>.lock`` beside the report folder."""

    def __init__(self, out: Path):
        self.path = out.parent / f".{out.name}.lock"

    def __enter__(self):
        self.f = open(self.path, "w")
        try:
            fcntl.flock(self.f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.f.close()
            raise UsageError(f"--out: another `iclgd verify` is writing {self.path.with_name(self.path.name[1:-5])}") from None
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


def _swap_in(tmp: Path, out: Path) -> None:
    """Replace ``out`` by the finished ``tmp`` folder: two renames; the old report is removed last."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _pytest_cmd(args, suite: Path, tiers: list[str], claims: list[str], seed: int | None) -> list[str]:
    marker = " or ".join(f"({TIERS[t]})" for t in tiers)
    cmd = [sys.executable, "-m", "pytest", str(suite), "-m", marker, "-p", "no:cacheprovider", "-q",
           "--tb=short", "--rootdir", str(suite.parent)]
    if args.workers != "0":
        cmd += ["-n", args.workers]
    if args.keyword:
        cmd += ["-k", args.keyword]
    if claims:
        cmd += ["--claim", ",".join(claims)]
    if seed is not None:
        cmd += [f"--hypothesis-seed={seed}"]
    return cmd


def _run_pytest(cmd, cwd, env, log_path: Path, quiet: bool) -> int:
    with open(log_path, "w") as log:
        if quiet:
            return subprocess.call(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:  # pytest's progress on the terminal, and a copy in the report
            sys.stderr.write(line)
            log.write(line)
        return proc.wait()


def _positive(flag: str, text: str, lo: int = 1, hi: int = 10**6) -> int:
    if not str(text).isdigit() or not lo <= int(text) <= hi:
        raise UsageError(f"{flag}: expected an integer in {lo}..{hi}, got {text!r}")
    return int(text)


def run_shard(spec: dict) -> dict:
    """One job of a sharded run (what submitit pickles and runs on a node): pytest on one tier × shard,
    its rows in ``spec["raw"]``, a ``done.json`` when it finished (what --resume skips)."""
    raw = Path(spec["raw"])
    raw.mkdir(parents=True, exist_ok=True)
    for old in raw.glob("tests-*.jsonl"):  # a rerun starts its rows afresh
        old.unlink()
    env = {**os.environ, **spec["env"], "ICLGD_RESULTS_DIR": str(raw)}
    t0 = time.perf_counter()
    with open(raw / "pytest.log", "w") as log:
        rc = subprocess.call(spec["cmd"], cwd=spec["cwd"], env=env, stdout=log, stderr=subprocess.STDOUT)
    out = {"shard": spec["name"], "rc": rc, "seconds": round(time.perf_counter() - t0, 1), "host": os.uname().nodename}
    (raw / "done.json").write_text(json.dumps(out))
    return out


def _launch(args, make_cmd, env: dict, cwd: Path, tiers: list[str], raw: Path, work: Path) -> list[dict]:
    """Shard tiers × ``--shards`` into one submitit job array; returns every shard's status."""
    import submitit

    n = _positive("--shards", args.shards, 1, 1024)
    gpus, minutes = _positive("--gpus-per-job", args.gpus_per_job, 0, 64), _positive("--time-limit", args.time_limit, 1)
    specs = []
    for tier in tiers:
        for k in range(n):
            name = f"{tier}-{k}of{n}"
            cmd = make_cmd([tier])
            specs.append({"name": name, "cmd": cmd + ([f"--iclgd-shard={k}/{n}"] if n > 1 else []),
                          "env": {k_: v for k_, v in env.items() if k_.startswith(("ICLGD_", "HYPOTHESIS", "CI"))},
                          "cwd": str(cwd), "raw": str(work / name)})
    done = {s["name"]: json.loads((Path(s["raw"]) / "done.json").read_text()) for s in specs
            if args.resume and (Path(s["raw"]) / "done.json").exists()}
    todo = [s for s in specs if s["name"] not in done]
    cluster = None if args.cluster == "auto" else args.cluster
    if cluster is None and not shutil.which("sbatch"):
        cluster = "local"
    if todo:
        ex = submitit.AutoExecutor(folder=work / "submitit", cluster=cluster)
        params = dict(timeout_min=minutes, gpus_per_node=gpus, name="iclgd-verify")
        if args.slurm_partition:
            params["slurm_partition"] = args.slurm_partition
        ex.update_parameters(**params)
        jobs = ex.map_array(run_shard, todo)
        for s, job in zip(todo, jobs):
            try:
                done[s["name"]] = {**job.result(), "job": job.job_id, "resumed": False}
            except Exception as e:  # a failed job loses nothing the other shards found
                last = (str(e).strip().splitlines() or [""])[-1]
                done[s["name"]] = {"shard": s["name"], "rc": None, "job": job.job_id, "error": f"{type(e).__name__}: {last}"[:300]}
    status = []
    for s in specs:
        info = dict(done[s["name"]], resumed=s["name"] not in {t["name"] for t in todo})
        if info.get("rc") is not None:
            shutil.copytree(s["raw"], raw / s["name"], dirs_exist_ok=True)
        status.append(info)
    return status


def run(args) -> int:
    from iclgd.properties import report, verdicts

    if args.profile not in PROFILES:
        raise UsageError(f"--profile: unknown profile {args.profile!r}; choose ci, quick or nightly")
    tiers = _tiers(args.tiers or (QUICK_TIERS if args.profile == "quick" else DEFAULT_TIERS))
    suite, claims, seed = _suite(args), _claims(args.claims), _seed(args)
    profile = args.profile
    if seed is not None and PROFILES[profile] == "ci":  # ci derandomizes: a seed needs a seeded profile
        profile = "quick"
    if args.workers != "auto" and not args.workers.isdigit():
        raise UsageError(f"--workers: expected 'auto' or a number, got {args.workers!r}")
    if args.model and not Path(args.model).exists():
        raise UsageError(f"--model: {args.model} does not exist")
    env = dict(os.environ, ICLGD_PROFILE=PROFILES[profile])
    env.pop("ICLGD_PERTURB", None)
    if args.perturb:
        _perturb(args.perturb)
        env["ICLGD_PERTURB"] = args.perturb
    if args.model:
        env["ICLGD_MODEL"] = str(Path(args.model).resolve())
    from iclgd.properties.records import records_dir

    out, records = _out_dir(args.out), _writable_dir("--records", records_dir(args.records))
    if args.example_db:
        env["ICLGD_EXAMPLE_DB"] = str(_writable_dir("--example-db", Path(args.example_db)))
    work = Path(args.work).expanduser().resolve() if args.work else out.parent / f".{out.name}.shards"
    if args.launcher == "local" and (args.resume or args.work or args.shards != "1"):
        raise UsageError("--launcher: --shards, --work and --resume need --launcher submitit")
    cmd = _pytest_cmd(args, suite, tiers, claims, seed)
    shards = None
    with _Lock(out):
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        try:
            raw = tmp / "raw"
            raw.mkdir()
            env.update(ICLGD_RESULTS_DIR=str(raw), ICLGD_COUNTEREXAMPLES_DIR=str(records))
            t0 = time.perf_counter()
            if args.launcher == "submitit":
                shards = _launch(args, lambda ts: _pytest_cmd(args, suite, ts, claims, seed), env, suite.parent,
                                 tiers, raw, work)
                bad = [s for s in shards if s.get("rc") not in (0, 1, 5)]
                rc = 4 if bad else (1 if any(s["rc"] == 1 for s in shards) else 0)
                (tmp / "pytest.log").write_text("\n".join(json.dumps(s) for s in shards) + "\n")
            else:
                rc = _run_pytest(cmd, suite.parent, env, tmp / "pytest.log", quiet=args.json or not sys.stderr.isatty())
            seconds = time.perf_counter() - t0
            rows = report.load_rows(raw)
            if rc not in (0, 1, 5) and shards is None:  # pytest usage / internal error / interrupted: the old report stays
                tail = (tmp / "pytest.log").read_text().strip().splitlines()[-1:] or [""]
                print(f"iclgd verify: error: pytest exited with {rc} ({tail[0][:160]}); the previous report "
                      f"is kept", file=sys.stderr)
                return EXIT_PYTEST
            if not [r for r in rows if r["outcome"] != "skipped"] and not (shards and rc == 4):
                print("iclgd verify: error: no test ran (check -k, --claims, --tiers and --suite); the previous "
                      "report is kept", file=sys.stderr)
                return EXIT_NO_TESTS
            claims_rows = report.summarise(rows)
            if claims:
                claims_rows = [c for c in claims_rows if c["id"] in claims]
            other = [r["nodeid"] for r in rows if r["outcome"] == "failed" and r["plumbing"]]
            code = verdicts.exit_code(claims_rows, strict=args.strict)
            if other or any(c["errors"] for c in claims_rows):
                code = 1
            if shards and rc == 4:
                code = EXIT_PYTEST  # a shard did not finish: the merged report says which; --resume reruns it
            figs = report.figures(rows, tmp) + report.theory_curves(tmp)
            ids = {i for c in claims_rows for i in c["records"]}
            sub = records / "perturbed" if args.perturb else records
            links = {i: os.path.relpath(sub / f"{i}.json", out) for i in ids if (sub / f"{i}.json").exists()}
            meta = {"profile": profile, "seed": seed if seed is not None else f"derandomized ({PROFILES[profile]})"
                    if PROFILES[profile] == "ci" else "Hypothesis default", "tiers": tiers, "claims_selected": claims,
                    "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "seconds": round(seconds, 1), "pytest_exit": rc, "exit": code, "strict": args.strict,
                    "perturb": args.perturb, "command": cmd, "tests": len(rows), "other_failures": other,
                    "launcher": args.launcher, "shards": shards, "tier_seconds": report.tier_seconds(rows)}
            doc = {**meta, "verdicts": verdicts.DEFINITIONS, "claims": claims_rows, "figures": figs,
                   "records_dir": str(sub)}
            (tmp / "report.json").write_text(json.dumps(doc, indent=2, default=str, allow_nan=False))
            (tmp / "report.md").write_text(report.markdown(meta, claims_rows, figs, links))
            (tmp / MARKER).write_text("iclgd verify report folder; replaced by the next run\n")
            _swap_in(tmp, out)
            if shards and code != EXIT_PYTEST:
                shutil.rmtree(work, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(doc, indent=2, default=str, allow_nan=False))
    else:
        print(report.table(claims_rows))
        print(report.tier_line(meta))
        print(f"\n{len(rows)} tests in {seconds:.0f} s (profile {profile}, seed {meta['seed']}; tiers "
              f"{', '.join(tiers)}); report: {out / 'report.md'}; exit {code}")
        if other:
            print("failures outside any claim: " + ", ".join(other))
    return code
