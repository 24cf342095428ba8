"""Fold the harness's per-test JSON lines into the verification report: one row per claim.

Inputs: ``tests-*.jsonl`` written by :mod:`iclgd.properties.harness`. Outputs: ``report.json``,
``report.md`` and PNG figures in the report folder.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

STATUSES = ("held", "failed", "refuted-as-expected", "skipped")


def load_rows(raw_dir: Path) -> list[dict]:
    rows = []
    for p in sorted(Path(raw_dir).glob("tests-*.jsonl")):
        rows += [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    return rows


def _ratio(c: dict | None) -> float:
    if not c:
        return -1.0
    if c["tolerance"] > 0:
        return c["error"] / c["tolerance"] if isinstance(c["error"], (int, float)) else math.inf
    return 0.0 if c["error"] == 0 else math.inf


def summarise(rows: list[dict]) -> list[dict]:
    """One dict per claim: id, paper, examples, status, worst_error, worst, seconds, tests, records."""
    from iclgd.theory import REGISTRY

    ids = list(REGISTRY) + sorted({c for r in rows for c in r["claims"]} - set(REGISTRY))
    out = []
    for cid in ids:
        mine = [r for r in rows if cid in r["claims"]]
        ran = [r for r in mine if r["outcome"] != "skipped"]
        failed = [r for r in ran if r["outcome"] == "failed"]
        refuted = [c for r in ran for c in r["refuted"] if c["claim"] == cid]
        worst = max((r["worst"] for r in ran if r["worst"] and r["worst"]["claim"] == cid), key=_ratio, default=None)
        findings = [c for r in ran for c in r.get("failed", []) if c["claim"] == cid]
        for c in findings:  # a failing check outranks any passing one
            if _ratio(c) > _ratio(worst):
                worst = c
        if failed or findings:
            status = "failed"
        elif any(r["worst"] for r in ran) or (ran and not refuted):
            status = "held"
        elif refuted:
            status = "refuted-as-expected"
        else:
            status = "skipped"
        claim = REGISTRY.get(cid)
        out.append({
            "id": cid,
            "paper": claim.citation.short() if claim else "",
            "statement": claim.statement if claim else "",
            "examples": int(sum(r["examples"] for r in ran)),
            "status": status,
            "worst_error": None if worst is None else worst["error"],
            "worst": None if worst is None else {k: worst[k] for k in ("quantity", "error", "tolerance", "reason")},
            "refutations": len(refuted),
            "findings": sum(1 for r in ran if r["outcome"] == "passed" for c in r.get("failed", []) if c["claim"] == cid),
            "seconds": round(sum(r["seconds"] for r in mine), 2),
            "tests": {"total": len(mine), "passed": sum(r["outcome"] == "passed" for r in mine),
                      "failed": len(failed), "skipped": len(mine) - len(ran)},
            "records": sorted({i for r in mine for i in r["records"]}),
        })
    return out


def table(claims: list[dict]) -> str:
    head = f"{'claim':6} {'paper':38} {'examples':>8} {'status':20} {'worst error (tol)':>24} {'sec':>7}"
    lines = [head, "-" * len(head)]
    for c in claims:
        w = "—" if c["worst"] is None else f"{c['worst']['error']:.3g} ({c['worst']['tolerance']:.3g})"
        lines.append(f"{c['id']:6} {c['paper'][:38]:38} {c['examples']:>8} {c['status']:20} {w:>24} {c['seconds']:>7.1f}")
    return "\n".join(lines)


def markdown(meta: dict, claims: list[dict], figures: list[str], records: dict[str, str]) -> str:
    md = [f"# iclgd verification report", "",
          f"Profile `{meta['profile']}`, tiers {', '.join(meta['tiers'])}, {meta['date']}, "
          f"{meta['seconds']:.0f} s, pytest exit code {meta['pytest_exit']}.", "",
          "| claim | paper | examples | status | worst error (tolerance) | seconds | records |",
          "|---|---|---:|---|---|---:|---|"]
    for c in claims:
        w = "—" if c["worst"] is None else f"{c['worst']['error']:.3g} ({c['worst']['tolerance']:.3g}, {c['worst']['quantity']})"
        recs = " ".join(f"[{i}]({records[i]})" for i in c["records"] if i in records) or "—"
        md.append(f"| {c['id']} | {c['paper']} | {c['examples']} | {c['status']} | {w} | {c['seconds']:.1f} | {recs} |")
    md += ["", "## Claims", ""]
    md += [f"- **{c['id']}** ({c['paper']}): {c['statement']}" for c in claims]
    if figures:
        md += ["", "## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in figures]
    return "\n".join(md) + "\n"


# ---- figures -----------------------------------------------------------------------------------
def figures(rows: list[dict], out: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    made = []
    checks = [c for r in rows for c in ([r["worst"]] if r["worst"] else []) + r.get("failed", []) + r["refuted"]]
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
    pts = [p for r in rows for p in r.get("points", []) if p["expect"] == "hold" and p.get("n") and p.get("d")
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


def _save(fig, path: Path) -> str:
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path.name
