"""Counterexample records: a failed (or refuting) Check with everything needed to cite and replay it.

One JSON file per counterexample in :func:`records_dir`, named by a content hash of what makes it
this counterexample (claim, inputs, predicted, measured), written atomically (temp file +
``os.replace``) so pytest-xdist workers can write concurrently and the same case found twice is one
file.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import re
import sys
import tempfile
from pathlib import Path

from .checks import Check

DEFAULT_DIR = ".iclgd/counterexamples"
_BLOB = re.compile(r"@reproduce_failure\(['\"]([^'\"]+)['\"],\s*(b?['\"][^'\"]+['\"])\)")
_FALSIFYING = re.compile(r"Falsifying (?:explicit )?example:(.*?)(?:\n\n|\Z)", re.S)


def records_dir() -> Path:
    return Path(os.environ.get("ICLGD_COUNTEREXAMPLES_DIR", DEFAULT_DIR))


def versions() -> dict:
    out = {"python": platform.python_version()}
    for mod in ("numpy", "sympy", "hypothesis", "torch", "transformers"):
        m = sys.modules.get(mod)
        if m is not None:
            out[mod] = getattr(m, "__version__", "?")
    from iclgd import __version__

    out["iclgd"] = __version__
    return out


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
    return {"claim": claim.id, "statement": claim.statement, "tag": claim.tag, "authors": c.authors,
            "title": c.title, "venue": c.venue, "year": c.year, "theorem": c.theorem, "url": c.url,
            "bibkey": c.bibkey, "assumptions": list(claim.assumptions)}


def record_id(check: Check) -> str:
    key = json.dumps({k: check.to_json()[k] for k in ("claim", "quantity", "setting", "predicted", "measured")},
                     sort_keys=True)
    return f"{check.claim}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def build(check: Check, *, nodeid: str, verdict: str, longrepr: str = "", profile: str = "") -> dict:
    blob = _BLOB.search(longrepr or "")
    falsifying = _FALSIFYING.search(longrepr or "")
    env = f"ICLGD_PROFILE={profile} " if profile else ""
    if os.environ.get("ICLGD_PERTURB"):
        env += f"ICLGD_PERTURB={os.environ['ICLGD_PERTURB']} "
    command = f"{env}pytest '{nodeid}' -p no:xdist"
    return {
        "id": record_id(check),
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
        "test": nodeid,
        "falsifying_example": falsifying.group(1).strip() if falsifying else None,
        "hypothesis_blob": (f"@reproduce_failure({blob.group(1)!r}, {blob.group(2)})" if blob else None),
        "reproduce": command,
        "versions": versions(),
        "device": _device(),
        "platform": platform.platform(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def write(record: dict, directory: Path | None = None) -> str:
    directory = Path(directory or records_dir())
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(record, f, indent=2, sort_keys=True, default=str)
    os.replace(tmp, directory / f"{record['id']}.json")
    return record["id"]


def _profile() -> str:
    from .profile import active_name

    return active_name()


def write_for_failure(item, rep, log) -> list[str]:
    """Records for the failing checks of a failed test's last (minimal) example."""
    failed = [c for c in log.last if c.expect == "hold" and not c.holds] or log.last[-1:]
    text = str(rep.longrepr)
    return [write(build(c, nodeid=item.nodeid, verdict="failed", longrepr=text, profile=_profile()))
            for c in failed]


def write_for_finding(item, check: Check) -> str:
    """A claim check that failed inside a test that reports rather than asserts it (a finding)."""
    return write(build(check, nodeid=item.nodeid, verdict="failed", profile=_profile()))


def write_for_refutation(item, check: Check) -> str:
    return write(build(check, nodeid=item.nodeid, verdict="refuted-as-expected", profile=_profile()))


def load_all(directory: Path | None = None) -> list[dict]:
    directory = Path(directory or records_dir())
    if not directory.is_dir():
        return []
    out = []
    for p in sorted(directory.glob("*.json")):
        out.append(json.loads(p.read_text()))
    return sorted(out, key=lambda r: (r["date"], r["id"]))


def load(record_id_: str, directory: Path | None = None) -> dict:
    directory = Path(directory or records_dir())
    matches = sorted(directory.glob(f"{record_id_}*.json")) if directory.is_dir() else []
    if len(matches) != 1:
        why = "no record" if not matches else f"{len(matches)} records"
        raise KeyError(f"ID: {why} matching {record_id_!r} in {directory}")
    return json.loads(matches[0].read_text())


def _fmt_inputs(inputs: dict) -> str:
    keys = [k for k in ("d", "n", "sigma2", "cov", "cov_w", "target", "seed") if inputs.get(k) not in (None, ())]
    rest = [k for k in inputs if k not in keys]
    return ", ".join(f"{k}={inputs[k]}" for k in keys + rest[:6])


def cite(record: dict) -> str:
    """A Markdown paragraph and a BibTeX entry (plus the claim's paper) for one record."""
    c = record["citation"]
    short = c.get("authors", "").split(" and ")[0].split()[-1] if c.get("authors") else record["claim"]
    kind = "Counterexample" if record["verdict"] == "failed" else "Refutation of an over-generalisation"
    para = (
        f"**{kind} `{record['id']}` to claim {record['claim']}** — {short} et al. ({c.get('year', '')}), "
        f"*{c.get('title', '')}*, {c.get('theorem', '')}. With {_fmt_inputs(record['inputs'])}, the "
        f"{record['quantity']} predicted by the claim and the one measured differ by "
        f"{record['error']:.4g}, beyond the tolerance {record['tolerance']:.4g} ({record['tolerance_reason']}). "
        f"Found by iclgd {record['versions'].get('iclgd', '')} on {record['date'][:10]} ({record['device']}); "
        f"reproduce with `{record['reproduce']}`"
        + (f" and `{record['hypothesis_blob']}`." if record.get("hypothesis_blob") else ".")
    )
    year = record["date"][:4]
    bib = (
        f"@misc{{iclgd-{record['id']},\n"
        f"  title        = {{{{iclgd}} {kind.lower()} {record['id']} to claim {record['claim']} "
        f"({c.get('theorem', '')})}},\n"
        f"  author       = {{{{iclgd}} contributors}},\n"
        f"  year         = {{{year}}},\n"
        f"  howpublished = {{iclgd {record['versions'].get('iclgd', '')}, record {record['id']}}},\n"
        f"  note         = {{Counterexample to {c.get('bibkey', record['claim'])}; {record['quantity']} "
        f"error {record['error']:.4g} vs tolerance {record['tolerance']:.4g}}}\n}}"
    )
    paper = ""
    if c.get("bibkey"):
        paper = (
            f"\n\n@inproceedings{{{c['bibkey']},\n  author    = {{{c['authors']}}},\n"
            f"  title     = {{{c['title']}}},\n  booktitle = {{{c['venue']}}},\n  year      = {{{c['year']}}},\n"
            f"  url       = {{{c['url']}}}\n}}"
        )
    return f"{para}\n\n```bibtex\n{bib}{paper}\n```"
