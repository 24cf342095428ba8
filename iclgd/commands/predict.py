"""`iclgd predict`: a claim's closed-form prediction (Γ*, η, L*, exact values) for one Setting.

Extreme scales are computed scale-free: M2/M2g are equivariant under Σ → Σ/a, Σ_w → Σ_w/b,
σ² → σ²/(ab) (Γ* → aΓ*, L* → L*/(ab); for M2 the prior Σ⁻¹ makes ab = 1), so a Σ or Σ_w whose
eigenvalues' geometric mean lies outside [2^-8, 2^8] is divided by the nearest power of two (exact in
floating point) and the float results mapped back. The float values carry a stated relative accuracy
from the condition numbers (``accuracy``); beyond 1e-3 the request is refused with them.
"""
from __future__ import annotations

import math

import numpy as np

from iclgd.cli import emit
from iclgd.theory import Setting, SettingError, get_claim
from iclgd.theory.setting import uniform_half_width

from ._args import (Need, add_more_setting_args, add_setting_args, condition, dumps, finite_output, pow2_scale,
                    preflight, setting_from_args)

RESCALE_LOG2 = 8  # rescale Σ, Σ_w whose scale is beyond 2^±8
MAX_REL_ERROR = 1e-3  # refuse when the stated float accuracy of Γ* is worse than this
EPS = float(np.finfo(np.float64).eps)


def add_parser(sub):
    p = sub.add_parser("predict", help="print a claim's closed-form optimum",
                       description="Print Γ*, η and L* predicted by a claim for one setting, with the stated "
                       "float accuracy (from the condition numbers of Σ, Σ_w). Results are finite or refused.")
    add_setting_args(p)
    add_more_setting_args(p)
    return p


def memory_needs(claim_id: str, d: int) -> list[Need]:
    """Float64 d×d work arrays, the JSON of Γ* (≈ 250 B per entry together, measured ≤ 120 at d = 1000);
    a claim whose closed form builds d×d SymPy matrices declares more (``Claim.exact_bytes_per_entry``: M3's
    ≈ 1 kB per entry, measured ≈ 220 B at d = 500)."""
    per_entry = get_claim(claim_id).exact_bytes_per_entry
    return [Need("the d×d closed form and its JSON", per_entry * d * d, (("--d", d, 5),))]


def _accuracy(claim, s: Setting, pred_error: float) -> dict:
    """Condition numbers and a first-order bound on the relative (Frobenius) float error of Γ*, by the
    claim's ``conditioning``: backward-stable d×d solves lose at most d·κ·ε ("cov": κ(Σ); "cov-and-prior":
    κ(B) ≤ κ(Σ)κ(Σ_w) for C⁻¹B and κ(Σ) for Σ^{-½}); scalar closed forms ("scalar") are within a few ulps
    plus their stated numeric error."""
    kc = condition(s.Sigma) if s.cov is not None else 1.0
    kw = condition(s.Sigma_w) if s.cov_w is not None else 1.0
    rel = {"cov": 4 * s.d * kc * EPS, "cov-and-prior": 4 * s.d * (kc * kw + kc) * EPS}.get(claim.conditioning, 16 * EPS)
    return {"cond_cov": kc, "cond_cov_w": kw, "relative_error": rel + pred_error}


def _scaled_prediction(claim, s: Setting):
    """(Prediction with float fields in the original units, rescaling dict or None)."""
    a = pow2_scale(s.Sigma) if s.cov is not None else 1.0
    b = pow2_scale(s.Sigma_w) if s.cov_w is not None else 1.0
    if claim.rescale is None or max(abs(math.log2(a)), abs(math.log2(b))) <= RESCALE_LOG2:
        return claim.predict(s), None
    lab = 0 if claim.rescale == "prior-inverse" else round(math.log2(a) + math.log2(b))  # log2 of ab, the scale of y²
    if lab > 1023:
        raise SettingError("cov_w" if b > a else "cov", f"the signal variance tr(ΣΣ_w) ≈ 2^{lab} and with it "
                           "L* exceed float64's range (1.8e308)")
    ab = math.ldexp(1.0, lab)
    if s.sigma2 > 0 and (ab == 0 or not math.isfinite(s.sigma2 / ab)):
        raise SettingError("sigma2", f"σ² = {s.sigma2:g} is beyond float64's range relative to the signal "
                           f"variance tr(ΣΣ_w) ≈ 2^{lab}")
    s2 = s.sigma2 / ab if s.sigma2 > 0 else 0.0
    scaled = s.replace(cov=s.Sigma / a, cov_w=None if s.cov_w is None else s.Sigma_w / b, sigma2=s2)
    p = claim.predict(scaled, exact=False)
    gamma = p.gamma / a
    eta = p.eta
    if eta is not None and np.linalg.norm(p.gamma - eta * np.eye(s.d)) <= 1e-10 * np.linalg.norm(p.gamma):
        eta = eta / a  # Γ* = η I scales with Γ*; Γ* = η Σ⁻¹ keeps η
    exact = None
    if s.d <= 4:  # exact rationals of extreme decimals grow large: only for small d
        with np.errstate(all="ignore"):
            try:
                exact = claim.predict(s).exact
            except (np.linalg.LinAlgError, ArithmeticError, ValueError):
                exact = None
    rescaled = {"cov_divided_by": a, "cov_w_divided_by": b if s.cov_w is not None else None,
                "sigma2_divided_by": ab, "exact": "computed on the original values" if exact else
                "not computed (d > 4 or extreme decimals): float values only"}
    return type(p)(gamma, eta, p.loss * ab, exact, p.error * ab), rescaled


def prediction_json(claim_id: str, setting) -> dict:
    claim = get_claim(claim_id)
    claim.validate(setting)
    try:  # an overflow anywhere in the closed form refuses the request (no inf → 0 passed off as finite)
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            pred, rescaled = _scaled_prediction(claim, setting)
    except (FloatingPointError, OverflowError, ZeroDivisionError) as e:
        raise SettingError(_extreme_flag(setting), f"the closed form leaves float64's range at these values "
                           f"({type(e).__name__}: {e})") from None
    acc = _accuracy(claim, setting, pred.error)
    if acc["relative_error"] > MAX_REL_ERROR:
        flag = "cov" if acc["cond_cov"] >= acc["cond_cov_w"] else "cov_w"
        raise SettingError(flag, f"condition numbers κ(Σ) = {acc['cond_cov']:.3g}, κ(Σ_w) = {acc['cond_cov_w']:.3g}: "
                           f"float64 would guarantee only relative error {acc['relative_error']:.2g} on Γ* "
                           f"(> {MAX_REL_ERROR:g}); use a better-conditioned matrix")
    js = setting.to_json()
    out = {"claim": claim.id, "paper": claim.citation.short(), "d": setting.d, "n": setting.n,
           "sigma2": setting.sigma2, "cov": js["cov"], "cov_w": js["cov_w"], "target": setting.target,
           **pred.to_json(), "accuracy": acc}
    out.update({k: js[k] for k in ("test_n", "prior_scale", "x_dist", "mean") if js[k] not in (None, "gaussian")})
    if setting.extra:
        out["params"] = dict(setting.extra)
    if rescaled:
        out["rescaled"] = rescaled
    clean, bad = finite_output(out)
    if bad:
        raise SettingError(_extreme_flag(setting), f"the closed form overflows float64 at these values "
                           f"({', '.join(bad)} not finite)")
    return clean


def _extreme_flag(s: Setting) -> str:
    """The input furthest from unit scale (largest |log10| of its entries): the flag to name when a
    closed form leaves float64's range."""
    mags = {"sigma2": [s.sigma2], "n": [s.n], "test_n": [s.test_n or 1], "prior_scale": [s.prior_scale or 1.0],
            "cov": np.ravel(s.Sigma), "cov_w": np.ravel(s.Sigma_w), "mean": list(s.mean or [1.0])}
    a = uniform_half_width(s.x_dist)
    mags["x_dist"] = [a if a else 1.0]

    def spread(values) -> float:
        v = np.abs(np.asarray(values, dtype=float))
        v = v[v > 0]
        return float(np.abs(np.log10(v)).max()) if v.size else 0.0

    return max(mags, key=lambda k: spread(mags[k]))


def run(args) -> int:
    preflight(memory_needs(args.claim, args.d))
    out = prediction_json(args.claim, setting_from_args(args))
    if args.json:
        print(dumps(out))
    else:
        emit(out, False, _human)
    return 0


def _human(o: dict) -> None:
    eta = "—" if o["eta"] is None else f"{o['eta']:.6g}"
    ex = o["exact"] or {}
    print(f"{o['claim']} ({o['paper']})  d={o['d']} n={o['n']} σ²={o['sigma2']:g} target={o['target']}")
    print(f"  η  = {eta}" + (f"   (exact {ex['eta']})" if ex.get("eta") else ""))
    print(f"  L* = {o['loss']:.6g}" + (f"   (exact {ex['loss']})" if ex.get("loss") else ""))
    a = o["accuracy"]
    print(f"  float accuracy: relative error of Γ* ≤ {a['relative_error']:.2g}"
          + (f"  (κ(Σ) = {a['cond_cov']:.3g}, κ(Σ_w) = {a['cond_cov_w']:.3g})" if o["cov"] or o["cov_w"] else ""))
    if o.get("rescaled"):
        r = o["rescaled"]
        print(f"  computed scale-free: Σ / {r['cov_divided_by']:g}"
              + (f", Σ_w / {r['cov_w_divided_by']:g}" if r["cov_w_divided_by"] else "") + ", mapped back")
    if o["gamma"] is None:  # a claim about a risk only: no Γ*
        return
    print("  Γ* =")
    for row in np.array(o["gamma"]):
        print("       " + "  ".join(f"{v:>+13.6g}" for v in row))
