"""Fold the harness's per-test JSON lines into the verification report: one row per claim.

Inputs: ``tests-*.jsonl`` written by :mod:`iclgd.properties.harness`. Outputs: ``report.json``,
``report.md`` and PNG figures in the report folder.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from . import tiers, verdicts


def load_rows(raw_dir: Path) -> list[dict]:
    rows = []
    for p in sorted(Path(raw_dir).rglob("tests-*.jsonl")):  # one folder, or one sub-folder per shard
        rows += [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    return rows


def _ratio(c: dict | None) -> float:
    if not c:
        return -1.0
    if c["tolerance"] > 0:
        return c["error"] / c["tolerance"] if isinstance(c["error"], (int, float)) else math.inf
    return 0.0 if c["error"] == 0 else math.inf


def summarise(rows: list[dict]) -> list[dict]:
    """One dict per registered claim, from the evidence of the tests that declare it (plumbing tests
    never count): status (a verdict word), verdict counts, worst check, records, errors."""
    from iclgd.theory import REGISTRY

    out = []
    for cid, claim in REGISTRY.items():
        mine = [r for r in rows if cid in r["claims"]]
        ran = [r for r in mine if r["outcome"] != "skipped"]
        counts: dict[str, int] = {}
        for r in ran:
            for v, k in r["counts"].get(cid, {}).items():
                counts[v] = counts.get(v, 0) + k
        status = verdicts.row_verdict(claim.kind, [v for v, k in counts.items() if k])
        flagged = [c for r in ran for c in r["flagged"] + r["failing"] if c["claim"] == cid]
        shown = [c for c in flagged if c["verdict"] == status] or [r["worst"][cid] for r in ran if cid in r["worst"]]
        if status == verdicts.INCONCLUSIVE or not shown:  # an undecided row shows what it lacked
            shown = [r.get("inconclusive", {})[cid] for r in ran if cid in r.get("inconclusive", {})] or shown
        worst = max(shown, key=_ratio, default=None)
        errors = [r["nodeid"] for r in ran if r["error"]]
        out.append({
            "id": cid,
            "kind": claim.kind,
            "tag": claim.tag,
            "paper": claim.citation.short() + ("" if claim.package == "iclgd" else f" [{claim.package}]"),
            "package": claim.package,
            "statement": claim.statement,
            "examples": int(sum(r["examples"] for r in ran)),
            "status": status,
            "counts": counts,
            "worst": None if worst is None else {k: worst[k] for k in ("quantity", "error", "tolerance", "reason",
                                                                       "verdict", "inconclusive")},
            "seconds": round(sum(r["seconds"] for r in mine), 2),
            "tests": {"total": len(mine), "passed": sum(r["outcome"] == "passed" for r in mine),
                      "failed": sum(r["outcome"] == "failed" for r in mine), "skipped": len(mine) - len(ran)},
            "errors": errors,
            "records": sorted({i for r in ran for i in r["records"] if _owner(i) == cid}),
            "cells": [{**p["cell"], "verdict": p["verdict"], "p": p["error"], "alpha": p["tolerance"]}
                      for r in ran for p in r.get("points", []) if p["claim"] == cid and "cell" in p],
        })
    return out


# marker -> tier, first match (as `iclgd verify --tiers` selects them); unmarked: theory
def tier_of(row: dict) -> str:
    """The tier a harness row's test runs in under `iclgd verify --tiers` (:mod:`iclgd.properties.tiers`)."""
    return tiers.tier_of(row.get("markers", []))


def tier_seconds(rows: list[dict]) -> dict[str, float]:
    """Test seconds per tier (summed over the tests, so over xdist workers too): theory, trained, llm, gpu, tooling."""
    out: dict[str, float] = {}
    for r in rows:
        t = tier_of(r)
        out[t] = round(out.get(t, 0.0) + r["seconds"], 1)
    return out


def tier_line(meta: dict) -> str:
    t = meta.get("tier_seconds") or {}
    return (f"Seconds by tier (test time, summed over workers): {', '.join(f'{k} {v:.0f}' for k, v in t.items())}; "
            f"wall {meta['seconds']:.0f} s. A claim's seconds are its tests' (a test of several claims counts in each).")


def _owner(record_id: str) -> str:
    """The claim a record id ``<claim>-<12 hex>`` belongs to (a claim id may contain '-': M1-trained)."""
    return record_id.rsplit("-", 1)[0]


def _counts(c: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(c["counts"].items(), key=lambda kv: verdicts.SEVERITY.index(kv[0])
                                                   if kv[0] in verdicts.SEVERITY else 99)) or "—"


def _worst(c: dict, long: bool = False) -> str:
    w = c["worst"]
    if w is None:
        return "—"
    txt = f"{w['error']:.3g} ({w['tolerance']:.3g}" + (f", {w['quantity']}" if long else "") + ")"
    return txt + (f"; inconclusive: {w['inconclusive']}" if long and w.get("inconclusive") else "")


def table(claims: list[dict]) -> str:
    head = f"{'claim':10} {'paper':34} {'examples':>8} {'status':20} {'worst error (tol)':>22} {'sec':>7}  checks"
    lines = [head, "-" * len(head)]
    for c in claims:
        lines.append(f"{c['id']:10} {c['paper'][:34]:34} {c['examples']:>8} {c['status']:20} {_worst(c):>22} "
                     f"{c['seconds']:>7.1f}  {_counts(c)}")
    return "\n".join(lines)


def markdown(meta: dict, claims: list[dict], figures: list[str], records: dict[str, str]) -> str:
    md = ["# iclgd verification report", "",
          f"Profile `{meta['profile']}` (seed: {meta['seed']}), tiers {', '.join(meta['tiers'])}, {meta['date']}, "
          f"{meta['seconds']:.0f} s, {meta['tests']} tests, pytest exit code {meta['pytest_exit']}, "
          f"verify exit code {meta['exit']}.", "", tier_line(meta), ""]
    if meta.get("perturb"):
        md += [f"**Deliberately perturbed run** (`--perturb {meta['perturb']}`): its records are not "
               "counterexamples to the papers.", ""]
    md += ["| claim | kind | paper | examples | status | checks by verdict | worst error (tolerance) | seconds | records |",
           "|---|---|---|---:|---|---|---|---:|---|"]
    for c in claims:
        recs = " ".join(f"[{i}]({records[i]})" for i in c["records"] if i in records) or "—"
        md.append(f"| {c['id']} | {c['kind']} | {c['paper']} | {c['examples']} | **{c['status']}** | {_counts(c)} | "
                  f"{_worst(c, True)} | {c['seconds']:.1f} | {recs} |")
    if meta.get("shards"):
        md += ["", "## Shards", "", "| shard | pytest exit | seconds | host | resumed |", "|---|---:|---:|---|---|"]
        md += [f"| {s['shard']} | {s.get('rc', '—') if s.get('rc') is not None else 'did not finish: ' + s.get('error', '')} "
               f"| {s.get('seconds', '—')} | {s.get('host', '—')} | {s.get('resumed', False)} |" for s in meta["shards"]]
    errors = [(c["id"], e) for c in claims for e in c["errors"]] + [("—", e) for e in meta.get("other_failures", [])]
    if errors:
        md += ["", "## Test failures that are not verdicts", ""]
        md += [f"- `{e}` ({cid})" for cid, e in errors]
    for c in claims:
        if c.get("cells"):
            md += ["", f"## {c['id']} per cell", ""] + cell_table(c["cells"])
    md += ["", "## Verdicts", ""] + [f"- `{k}`: {v}" for k, v in verdicts.DEFINITIONS.items()]
    md += ["", "## Claims", ""]
    md += [f"- **{c['id']}** {c['tag']} ({c['paper']}): {c['statement']}" for c in claims]
    if figures:
        md += ["", "## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in figures]
    return "\n".join(md) + "\n"


def cell_table(cells: list[dict]) -> list[str]:
    """An empirical pattern per (model, dataset, N, seed, variant, metric): whether the cell supports, ties
    or reverses it (exact sign test p vs α), its verdict, the mean effect with its interval, and which
    nulls the variant's agreement with ICL beats (yes / no / — undecidable)."""
    word = {True: "yes", False: "**no**", None: "—"}
    out = ["effect: mean over test inputs of agreement(ICL, variant) − agreement(ICL, ICL reordered) "
           "(< 0 supports the pattern); p: exact one-sided sign test of support; nulls: does the ICL–variant "
           "agreement beat the null input by input (one-sided sign test at α)", "","| model | dataset | N | seed | variant | metric | outcome | p (α) | verdict | effect [interval] | beats nulls |",
           "|---|---|---:|---:|---|---|---|---|---|---|---|"]
    for c in sorted(cells, key=lambda c: tuple(str(c.get(k)) for k in ("model", "dataset", "shots", "seed", "variant",
                                                                        "metric"))):
        e = c.get("effect") or {}
        eff = (f"{e['mean']:+.3f} [{e['interval'][0]:+.3f}, {e['interval'][1]:+.3f}]" if e.get("interval") else "—")
        nulls = ", ".join(f"{k} {word[v]}" for k, v in sorted((c.get("nulls") or {}).items())) or "—"
        why = f" ({c['inconclusive'][:90]}…)" if c.get("inconclusive") else ""
        out.append(f"| {c.get('model')} | {c.get('dataset')} | {c.get('shots')} | {c.get('seed')} | {c.get('variant')} | "
                   f"{c.get('metric')} | {c.get('outcome')} | {c['p']:.2g} ({c['alpha']:.2g}) | {c['verdict']}{why} | "
                   f"{eff} | {nulls} |")
    return out


# ---- figures -----------------------------------------------------------------------------------
def figures(rows: list[dict], out: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    made = []
    checks = [c for r in rows for c in list(r["worst"].values()) + r["flagged"] + r["failing"]]
    gam = {}
    for c in checks:
        p, m = np.asarray(c["predicted"], dtype=object), np.asarray(c["measured"], dtype=object)
        if "gamma" in c["quantity"] and p.ndim == 2 and p.shape == m.shape and p.shape[0] > 1:
            gam.setdefault(c["claim"], c)
    if gam:
        fig, axes = plt.subplots(len(gam), 2, figsize=(6, 3 * len(gam)), squeeze=False, layout="constrained")
        for row, (cid, c) in zip(axes, sorted(gam.items())):
            P, M = np.asarray(c["predicted"], float), np.asarray(c["measured"], float)
            lim = max(np.abs(P).max(), np.abs(M).max())
            for ax, mat, title in zip(row, (P, M), ("predicted Γ*", "measured Γ")):
                im = ax.imshow(mat, cmap="RdBu_r", vmin=-lim, vmax=lim)
                ax.set_title(f"{cid}: {title}", fontsize=9)
                ax.set_xticks([]), ax.set_yticks([])
            fig.colorbar(im, ax=row.tolist(), shrink=0.8)
        made.append(_save(fig, out / "gamma_heatmaps.png"))
    pts = [p for r in rows for p in r.get("points", []) if p["verdict"] in ("held", "refuted") and p.get("n") and p.get("d")
           and "gamma" in p["quantity"] and p["tolerance"] > 0]
    if pts:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        for ax, key in zip(axes, ("n", "d")):
            for cid in sorted({p["claim"] for p in pts}):
                sel = [p for p in pts if p["claim"] == cid]
                ax.scatter([p[key] for p in sel], [p["error"] / p["tolerance"] for p in sel], s=10, label=cid, alpha=0.6)
            ax.axhline(1.0, color="k", lw=0.8, ls="--")
            ax.set_xlabel(key), ax.set_ylabel("error / tolerance"), ax.set_yscale("log")
        axes[0].legend(fontsize=7)
        fig.suptitle("Γ checks: error relative to tolerance (below the dashed line = within tolerance)", fontsize=9)
        made.append(_save(fig, out / "error_vs_n_d.png"))
    groups: dict[str, list] = {}
    for c in checks:
        if c["quantity"].startswith("order_sensitivity"):
            groups.setdefault(c["quantity"].replace("order_sensitivity", "").strip() or c["claim"], []).append(c)
    if groups:  # one bar pair per compared computation (mean over the examples that checked it)
        labels = sorted(groups, key=lambda q: -np.mean([np.mean(c["measured"]) for c in groups[q]]))[:16]
        fig, ax = plt.subplots(figsize=(8, 4))
        x = np.arange(len(labels))
        ax.bar(x - 0.2, [np.mean([np.mean(c["measured"]) for c in groups[q]]) for q in labels], 0.4,
               label="measured (ICL / model)")
        ax.bar(x + 0.2, [np.mean([np.mean(c["predicted"]) for c in groups[q]]) for q in labels], 0.4,
               label="reference (algorithm)")
        ax.set_xticks(x, [f"{q[:38]} (×{len(groups[q])})" for q in labels], rotation=35, ha="right", fontsize=6)
        ax.set_ylabel("order sensitivity (mean over examples)"), ax.set_yscale("symlog", linthresh=1e-3)
        ax.legend(fontsize=7)
        made.append(_save(fig, out / "order_sensitivity.png"))
    overlap = [c for c in checks if "overlap" in c["quantity"] and isinstance(c.get("setting"), dict)
               and c["setting"].get("shots") is not None]
    if overlap:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for q in sorted({c["quantity"] for c in overlap}):
            sel = sorted((c for c in overlap if c["quantity"] == q), key=lambda c: c["setting"]["shots"])
            ax.plot([c["setting"]["shots"] for c in sel], [float(np.mean(c["measured"])) for c in sel], "o-", label=q)
        ax.set_xlabel("demonstrations N"), ax.set_ylabel("overlap"), ax.legend(fontsize=7)
        made.append(_save(fig, out / "overlap_curves.png"))
    return made


def theory_curves(out: Path) -> list[str]:
    """What the closed forms say, as a reader wants to see it: each registered :class:`Curve`'s predicted
    risk against its x, one figure per ``Curve.figure``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    from iclgd.theory import REGISTRY, SettingError
    from iclgd.theory.claims import CURVES  # declared by the paper modules, loaded with iclgd.theory

    def points(c):
        pts = []
        for x in c.xs:
            try:
                pts.append((x, REGISTRY[c.claim].predict(c.make(x), exact=False).loss))
            except SettingError:  # outside the claim's assumptions (e.g. OLS with noise and n ≤ d + 1)
                continue
        return pts

    made = []
    for figure in dict.fromkeys(c.figure for c in CURVES if c.claim in REGISTRY):
        lines = [(c, points(c)) for c in CURVES if c.figure == figure and c.claim in REGISTRY]
        if not any(pts for _, pts in lines):
            continue
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for c, pts in lines:
            if pts:
                ax.plot(*zip(*pts), c.style, ms=2, label=c.label)
        for v in {c.vline for c, _ in lines if c.vline is not None}:
            ax.axvline(v, color="k", lw=0.8, ls="--")
        ax.set_xlabel(lines[0][0].xlabel), ax.set_ylabel("predicted risk")
        ax.set_yscale("log"), ax.legend(fontsize=7)
        made.append(_save(fig, out / figure))
    return made


def _save(fig, path: Path) -> str:
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path.name
