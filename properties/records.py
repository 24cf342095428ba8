"""Counterexample records: the checks behind one verdict, with everything needed to cite and replay them.

One JSON file per (claim, test, verdict, minimal example) in :func:`records_dir`, named by a content
hash of exactly that key (never of the measured numbers), so a second identical run adds no file.
Writes are atomic (temp file, fsync, ``os.replace``) so pytest-xdist workers can write concurrently.
A deliberately perturbed run (``ICLGD_PERTURB``) writes to ``<records>/perturbed/`` with a
structured ``perturbed`` field, and :func:`cite` refuses to cite such a record as a counterexample.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from .checks import Check
from .verdicts import FINDING, NOT_REACHED, REFUTED, REFUTED_AS_EXPECTED

DEFAULT_DIR = ".iclgd/counterexamples"
ENV = "ICLGD_COUNTEREXAMPLES_DIR"
PERTURBED = "perturbed"  # sub-folder of a perturbed run's records
_BLOB = re.compile(r"@reproduce_failure\(['\"]([^'\"]+)['\"],\s*(b?['\"][^'\"]+['\"])\)")
_FALSIFYING = re.compile(r"(?:Falsifying (?:explicit )?example|Failing test case):\s*(.*?)(?:\n\s*\n|\nYou can reproduce|\Z)",
                         re.S)
REQUIRED = ("id", "claim", "verdict", "quantity", "error", "tolerance", "date")

# how `cite` words each verdict
WORDING = {
    REFUTED: "Counterexample",
    REFUTED_AS_EXPECTED: "Refutation of an over-generalisation",
    NOT_REACHED: "Training did not reach the global optimum",
    FINDING: "Empirical finding (pattern did not reproduce)",
}


class RecordError(KeyError):
    """A record id that is malformed or matches no (or several) records; the message names ID."""

    def __str__(self):
        return self.args[0]


def records_dir(directory=None) -> Path:
    """The records folder: ``directory``, else ``$ICLGD_COUNTEREXAMPLES_DIR``, else .iclgd/counterexamples.
    Every subcommand resolves it here."""
    return Path(directory or os.environ.get(ENV) or DEFAULT_DIR)


def versions() -> dict:
    out = {"python": platform.python_version()}
    for mod in ("numpy", "sympy", "hypothesis", "torch", "transformers"):
        m = sys.modules.get(mod)
        if m is not None:
            out[mod] = getattr(m, "__version__", "?")
    from iclgd import __version__

    out["iclgd"] = __version__
    return out


def git_commit() -> str | None:
    """The checkout's commit (with ``+dirty`` when it has local changes), or None outside git."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _device() -> str:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {platform.processor() or platform.machine()}"


def _citation(claim_id: str) -> dict:
    from iclgd.theory import REGISTRY

    claim = REGISTRY.get(claim_id)
    if claim is None:
        return {"claim": claim_id}
    c = claim.citation
    return {"claim": claim.id, "statement": claim.statement, "tag": claim.tag, "kind": claim.kind,
            "authors": c.authors, "title": c.title, "venue": c.venue, "year": c.year, "theorem": c.theorem,
            "url": c.url, "bibkey": c.bibkey, "assumptions": list(claim.assumptions)}


def record_id(check: Check, nodeid: str = "", verdict: str = "") -> str:
    """Content hash of (claim, test, verdict, quantity, inputs): the same case found again is one file."""
    j = check.to_json()
    key = json.dumps({"claim": check.claim, "test": nodeid, "verdict": verdict or check.verdict,
                      "quantity": j["quantity"], "setting": j["setting"]}, sort_keys=True)
    return f"{check.claim}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def falsifying_example(longrepr: str = "", notes=()) -> str | None:
    """The minimal example as Hypothesis printed it ('Failing test case:' in current releases,
    'Falsifying example:' in older ones), from the exception's notes or the report text."""
    for text in (*notes, "\n".join(re.sub(r"^E ?\s{0,7}", "", ln) for ln in (longrepr or "").splitlines())):
        m = _FALSIFYING.search(text or "")
        if m and m.group(1).strip():
            return m.group(1).strip()
    return None


def perturbation() -> dict:
    from iclgd.theory.claims import perturbations

    return perturbations()


def build(checks: list[Check], *, nodeid: str, verdict: str, longrepr: str = "", notes=(), profile: str = "",
          seed=None) -> dict:
    """A record of ``checks`` (one claim, one example; the first is the one cited) under ``verdict``."""
    check = checks[0]
    text = "\n".join([*notes, longrepr or ""])
    blob = _BLOB.search(text)
    env = f"ICLGD_PROFILE={profile} " if profile else ""
    pert = perturbation()
    if pert:
        env += f"ICLGD_PERTURB={','.join(f'{k}:{v!r}' for k, v in pert.items())} "
    seed_opt = f" --hypothesis-seed={seed}" if seed is not None else ""
    return {
        "id": record_id(check, nodeid, verdict),
        "claim": check.claim,
        "citation": _citation(check.claim),
        "verdict": verdict,
        "quantity": check.quantity,
        "inputs": check.setting,
        "predicted": check.predicted,
        "measured": check.measured,
        "error": check.error,
        "tolerance": check.tolerance,
        "tolerance_reason": check.reason,
        "inconclusive": check.inconclusive,
        "checks": [c.to_json() for c in checks],
        "perturbed": pert or None,
        "profile": profile,
        "test": nodeid,
        "falsifying_example": falsifying_example(longrepr, notes),
        "hypothesis_blob": (f"@reproduce_failure({blob.group(1)!r}, {blob.group(2)})" if blob else None),
        "reproduce": f"{env}pytest '{nodeid}' -p no:xdist{seed_opt}",
        "commit": git_commit(),
        "versions": versions(),
        "device": _device(),
        "platform": platform.platform(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def write(record: dict, directory=None) -> str:
    """Atomically write ``record`` (temp file in the same folder, fsync, rename), mode 0644; an
    identical key already on disk is replaced by the newer run."""
    directory = records_dir(directory)
    if record.get("perturbed"):
        directory = directory / PERTURBED
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, indent=2, sort_keys=True, default=str, allow_nan=False)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, directory / f"{record['id']}.json")
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return record["id"]


def load_all(directory=None, *, warn=None, perturbed: bool = False) -> list[dict]:
    """Every readable record, oldest first. A corrupt, empty or truncated file is skipped with one
    warning line naming it (``warn``, default stderr); temporary files of interrupted writes are ignored."""
    directory = records_dir(directory) / (PERTURBED if perturbed else "")
    if not directory.is_dir():
        return []
    warn = warn or (lambda m: print(m, file=sys.stderr))
    out = []
    for p in sorted(directory.glob("*.json")):
        if p.name.startswith(".tmp-"):
            continue
        try:
            rec = json.loads(p.read_text())
            if not isinstance(rec, dict) or any(k not in rec for k in REQUIRED):
                raise ValueError(f"missing keys {[k for k in REQUIRED if not isinstance(rec, dict) or k not in rec]}")
        except (OSError, UnicodeDecodeError, ValueError) as e:
            warn(f"iclgd: skipping unreadable record {p} ({type(e).__name__}: {str(e)[:80]})")
            continue
        out.append(rec)
    return sorted(out, key=lambda r: (str(r["date"]), str(r["id"])))


def load(record_id_: str, directory=None) -> dict:
    """The record whose id is ``record_id_`` or starts with it (a unique prefix); ids are matched as
    plain strings, never as a glob or a path."""
    if not isinstance(record_id_, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", record_id_) or ".." in record_id_:
        raise RecordError(f"ID: {record_id_!r} is not a record id (letters, digits, '-', '_', '.')")
    rows = load_all(directory) + load_all(directory, perturbed=True)
    exact = [r for r in rows if r["id"] == record_id_]
    matches = exact or [r for r in rows if str(r["id"]).startswith(record_id_)]
    if len(matches) != 1:
        why = "no record" if not matches else f"{len(matches)} records"
        raise RecordError(f"ID: {why} matching {record_id_!r} in {records_dir(directory)}")
    return matches[0]


def replay(record: dict, suite: Path, *, timeout: float = 3600) -> dict:
    """Rerun ``record``'s test on its exact case (Hypothesis's ``reproduce_failure`` blob when there
    is one, else the test itself under the record's profile and perturbation) in a scratch records
    folder, and say whether the same record — same claim, test, verdict and inputs — comes back."""
    scratch = Path(tempfile.mkdtemp(prefix="iclgd-replay-"))
    try:
        cmd = [sys.executable, "-m", "pytest", record["test"], "-p", "no:xdist", "-p", "no:cacheprovider", "-q",
               "--tb=short", "--rootdir", str(suite.parent)]
        if record.get("hypothesis_blob"):
            cmd += [f"--iclgd-replay={record['hypothesis_blob']}"]  # '=': pytest reads a bare @arg as a file
        env = dict(os.environ, ICLGD_COUNTEREXAMPLES_DIR=str(scratch / "recs"), ICLGD_RESULTS_DIR=str(scratch / "raw"))
        env.pop("ICLGD_PERTURB", None)
        if record.get("profile"):
            env["ICLGD_PROFILE"] = record["profile"]
        if record.get("perturbed"):
            env["ICLGD_PERTURB"] = ",".join(f"{k}:{v!r}" for k, v in record["perturbed"].items())
        proc = subprocess.run(cmd, cwd=suite.parent, env=env, capture_output=True, text=True, timeout=timeout)
        found = {p.stem for p in (scratch / "recs").rglob("*.json")} if (scratch / "recs").exists() else set()
        tail = ((proc.stdout + proc.stderr).strip().splitlines() or [""])[-1]
        return {"id": record["id"], "still_fails": record["id"] in found, "pytest_exit": proc.returncode,
                "records_found": sorted(found), "command": cmd, "summary": tail}
    finally:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)


def _fmt_inputs(inputs) -> str:
    if not isinstance(inputs, dict):
        return str(inputs)
    keys = [k for k in ("d", "n", "sigma2", "cov", "cov_w", "target", "seed") if inputs.get(k) not in (None, ())]
    rest = [k for k in inputs if k not in keys]
    return ", ".join(f"{k}={inputs[k]}" for k in keys + rest[:6])


def _num(x) -> str:
    return f"{x:.4g}" if isinstance(x, (int, float)) else str(x)


def _scope(verdict: str, c: dict, short: str) -> str:
    """What the record is evidence of, beyond its verdict word: an over-generalisation is the suite's own
    statement, not the paper's; a failed identity is a bug of the suite, not a counterexample to anyone."""
    if verdict == REFUTED_AS_EXPECTED and c.get("kind") != "overgeneralisation":
        return (f" The claim was applied outside one of its assumptions (the setting above drops it): evidence that "
                f"the assumption is needed, not a counterexample to {short} et al.'s claim as stated.")
    if verdict == REFUTED_AS_EXPECTED:
        return (f" The refuted statement is an over-generalisation that iclgd registered to show it finds such "
                f"errors ({c.get('tag', '')}); {short} et al. do not make it, and are cited for the setting only.")
    if verdict == REFUTED and c.get("kind") == "identity":
        return (" The claim is an identity or a construction of the suite's own, which cannot fail by "
                "construction: this record is a bug of iclgd, not a counterexample to the paper.")
    if verdict == NOT_REACHED:
        return " It is evidence about training (reachability), not against the theorem about global minimisers."
    return ""


def cite(record: dict) -> str:
    """A Markdown paragraph and a BibTeX entry (plus the claim's paper) for one record, worded as
    what its verdict is. Raises RecordError for a perturbed run's record (not a counterexample)."""
    if record.get("perturbed"):
        raise RecordError(f"ID: record {record.get('id')} comes from a deliberately perturbed run "
                          f"({record['perturbed']}); it is not a counterexample to the paper")
    c = record.get("citation") or {}
    verdict = record.get("verdict", "")
    kind = WORDING.get(verdict, f"Record ({verdict})")
    if verdict == REFUTED_AS_EXPECTED and c.get("kind") != "overgeneralisation":
        kind = "Refutation outside a dropped assumption"
    short = c.get("authors", "").split(" and ")[0].split()[-1] if c.get("authors") else record.get("claim", "")
    versions_ = record.get("versions") or {}
    what = {
        REFUTED: "the claim's prediction and the measurement differ",
        REFUTED_AS_EXPECTED: "the over-generalised statement and the measurement differ",
        NOT_REACHED: "the trained model and the global optimum differ",
        FINDING: "the paper's pattern and the measurement on this model differ",
    }.get(verdict, "prediction and measurement differ")
    para = (
        f"**{kind} `{record['id']}` — claim {record['claim']}** ({short} et al. {c.get('year', '')}, "
        f"*{c.get('title', '')}*, {c.get('theorem', '')}). With {_fmt_inputs(record.get('inputs'))}, "
        f"for the {record['quantity']} {what} by {_num(record['error'])}, beyond the tolerance "
        f"{_num(record['tolerance'])} ({record.get('tolerance_reason', '')}). "
        f"Found by iclgd {versions_.get('iclgd', '')}"
        + (f" at commit {record['commit']}" if record.get("commit") else "")
        + f" on {str(record['date'])[:10]} ({record.get('device', '')}); reproduce with `{record.get('reproduce', '')}`"
        + (f" and `{record['hypothesis_blob']}`." if record.get("hypothesis_blob") else ".")
        + _scope(verdict, c, short)
    )
    year = str(record["date"])[:4]
    bib = (
        f"@misc{{iclgd-{record['id']},\n"
        f"  title        = {{{{iclgd}} record {record['id']}: {kind.lower()}, claim {record['claim']} "
        f"({c.get('theorem', '')})}},\n"
        f"  author       = {{{{iclgd}} contributors}},\n"
        f"  year         = {{{year}}},\n"
        f"  howpublished = {{iclgd {versions_.get('iclgd', '')}, record {record['id']}}},\n"
        f"  note         = {{{kind} ({verdict}) for {c.get('bibkey', record['claim'])}; {record['quantity']} "
        f"error {_num(record['error'])} vs tolerance {_num(record['tolerance'])}}}\n}}"
    )
    paper = ""
    if c.get("bibkey"):
        paper = (
            f"\n\n@inproceedings{{{c['bibkey']},\n  author    = {{{c['authors']}}},\n"
            f"  title     = {{{c['title']}}},\n  booktitle = {{{c['venue']}}},\n  year      = {{{c['year']}}},\n"
            f"  url       = {{{c['url']}}}\n}}"
        )
    return f"{para}\n\n```bibtex\n{bib}{paper}\n```"
