"""`iclgd predict`: a claim's closed-form prediction (Γ*, η, L*, exact values) for one Setting."""
from __future__ import annotations

import numpy as np

from iclgd.cli import emit
from iclgd.theory import get_claim

from ._args import add_setting_args, setting_from_args


def add_parser(sub):
    p = sub.add_parser("predict", help="print a claim's closed-form optimum",
                       description="Print Γ*, η and L* predicted by a claim for one setting.")
    add_setting_args(p)
    return p


def prediction_json(claim_id: str, setting) -> dict:
    claim = get_claim(claim_id)
    pred = claim.predict(setting)
    return {"claim": claim.id, "paper": claim.citation.short(), "d": setting.d, "n": setting.n,
            "sigma2": setting.sigma2, "cov": setting.to_json()["cov"], "cov_w": setting.to_json()["cov_w"],
            "target": setting.target, **pred.to_json()}


def run(args) -> int:
    out = prediction_json(args.claim, setting_from_args(args))
    emit(out, args.json, _human)
    return 0


def _human(o: dict) -> None:
    eta = "—" if o["eta"] is None else f"{o['eta']:.6g}"
    print(f"{o['claim']} ({o['paper']})  d={o['d']} n={o['n']} σ²={o['sigma2']:g} target={o['target']}")
    print(f"  η  = {eta}" + (f"   (exact {o['exact']['eta']})" if o["exact"] and o["exact"].get("eta") else ""))
    print(f"  L* = {o['loss']:.6g}" + (f"   (exact {o['exact']['loss']})" if o["exact"] else ""))
    print("  Γ* =")
    for row in np.array(o["gamma"]):
        print("       " + "  ".join(f"{v:+.6f}" for v in row))
