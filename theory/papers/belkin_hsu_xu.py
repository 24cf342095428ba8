"""BHX-minnorm (Belkin, Hsu, Xu, SIAM J. Math. Data Sci. 2020, the Gaussian model): x ~ N(0, I_D), the learner
regresses on p of the D coordinates (a fixed subset T) by min-norm least squares and predicts with zero weight on the
others. Its risk E(y_q − x_qᵀβ̂)², with s² = ‖β_Tᶜ‖² + σ² (the dropped features act as independent noise):
  p ≤ n − 2: s² (1 + p/(n − p − 1));   |p − n| ≤ 1: ∞ (when s² > 0);
  p ≥ n + 2: ‖β_T‖² (1 − n/p) + s² (1 + n/(p − n − 1)).
At p = D with w ~ N(0, I) it is the OLS claim (Garg et al.'s baseline). Convention (here): the task vector is drawn
per prompt, w ~ N(0, I_D) (E‖β_T‖² = p, E‖β_Tᶜ‖² = D − p); the paper's fixed-β statement is linear in ‖β_T‖²
and ‖β_Tᶜ‖², so the two agree for β with those norms (the Monte Carlo check uses the fixed β = (1, …, 1)).
"""
from __future__ import annotations

from iclgd.theory.claims import Citation, Claim, Param, Part, Prediction, register
from iclgd.theory.errors import SettingError
from iclgd.theory.papers.bayes_ridge import isotropic_only
from iclgd.theory.setting import Setting

BHX = dict(
    authors="Mikhail Belkin and Daniel Hsu and Ji Xu",
    title="Two models of double descent for weak features",
    venue="SIAM Journal on Mathematics of Data Science", year=2020,
    url="https://arxiv.org/abs/1903.07571", bibkey="belkin2020two")
P = Param("p", "number of the D = --d coordinates the learner regresses on (BHX-minnorm)", lo=1, hi=10**6, integer=True)


def minnorm_parts(p: int, n: int, D: int, sigma2: float) -> tuple[float, float, float]:
    """(s², variance, bias) of the risk for w ~ N(0, I_D): s² = D − p + σ², variance s²·m/(M − m − 1)
    (m = min(n, p), M = max(n, p)), bias p − n for p > n (‖β_T‖² (1 − n/p) at ‖β_T‖² = p)."""
    s2 = (D - p) + sigma2
    bias = float(p - n) if p > n else 0.0
    if s2 == 0:
        return 0.0, 0.0, bias
    m, M = min(n, p), max(n, p)
    return s2, s2 * m / (M - m - 1), bias


def _validate(s: Setting) -> None:
    isotropic_only("BHX-minnorm", "w ~ N(0, I_D) per prompt")(s)
    p = CLAIM.param(s, "p")
    if p > s.d:
        raise SettingError("--p", f"the learner uses p of the D = --d = {s.d} coordinates; got p = {p}")
    if abs(p - s.n) <= 1 and (s.d - p) + s.sigma2 > 0:
        raise SettingError("--p", f"the min-norm risk is infinite for |p − n| ≤ 1 with noise or dropped features "
                           f"(s² = D − p + σ² = {(s.d - p) + s.sigma2:g} > 0); got p = {p}, n = {s.n}")


def _predict(s: Setting, exact: bool) -> Prediction:
    s2, var, bias = minnorm_parts(CLAIM.param(s, "p"), s.n, s.d, s.sigma2)
    return Prediction(gamma=None, eta=None, loss=s2 + var + bias, values={
        "risk_minnorm": s2 + var + bias, "effective_noise": s2, "variance_term": var, "bias_term": bias})


CLAIM = register(Claim(
    id="BHX-minnorm",
    citation=Citation(**BHX, theorem="risk of least squares / least norm in the Gaussian model (theorem number not read)"),
    tag="[paper]",
    statement="x ~ N(0, I_D); min-norm least squares on p of the D coordinates, zero on the rest: with s² = ‖β_Tᶜ‖² + σ², "
    "the risk is s²(1 + p/(n − p − 1)) for p ≤ n − 2, infinite for |p − n| ≤ 1 (s² > 0), and "
    "‖β_T‖²(1 − n/p) + s²(1 + n/(p − n − 1)) for p ≥ n + 2; at p = D it is OLS's risk.",
    assumptions=("x_j, x_q ~ N(0, I_D) i.i.d. (D = --d)", "the learner uses a fixed subset of p coordinates (--p)",
                 "w ~ N(0, I_D) per prompt (the paper: a fixed β; equal risks at ‖β_T‖² = p, ‖β_Tᶜ‖² = D − p)",
                 "y_j = wᵀx_j + ε_j, ε_j ~ N(0, σ²) i.i.d."),
    parts=(
        Part("risk peaks when p is close to n and decreases toward its minimum as p grows beyond n", "paper", "abstract"),
        Part("the three-regime finite-n risk formula", "paper", "Gaussian model's theorem (number not read; "
             "re-derived here: dropped features as noise, inverse-Wishart mean, E P = (n/p) I)"),
        Part("w ~ N(0, I_D) per prompt, the suite's task law (the paper states a fixed β)", "convention"),
        Part("at p = D the formula is the OLS claim's risk", "derived"),
    ),
    kind="theorem", predict_fn=_predict, validate_fn=_validate, params=(P,),
))

register(Claim(
    id="BHX-more-features",
    citation=Citation(**BHX, theorem="over-generalisation (not the paper's statement)"),
    tag="[derived]",
    statement="Over-generalisation, expected refuted: regressing on more of the D features never increases the "
    "min-norm least-squares risk.",
    assumptions=("x ~ N(0, I_D)", "w ~ N(0, I_D)", "min-norm least squares on the first p coordinates"),
    parts=(Part("the min-norm risk is non-increasing in p", "derived"),),
    kind="overgeneralisation", params=(P,),
))
