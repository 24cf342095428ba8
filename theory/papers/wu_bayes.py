"""Wu-near-Bayes (Wu, Zou, Chen, Braverman, Gu, Bartlett, ICLR 2024): the optimum of one-layer linear attention (one GD
step, Γ* = ηI, the M1/M2g optimum at x ~ N(0, I), w ~ N(0, τ² I)) against the Bayes risk (Bayes-ridge) at the same
length n. Definition used here (convention: the paper's exact normalisation was not read): the excess-risk ratio
ρ(n) = (L* − σ²)/(R_Bayes − σ²), with L* − σ² = τ²d(τ²(d + 1) + σ²)/(τ²(n + d + 1) + σ²) and
R_Bayes − σ² = σ² E tr((XᵀX + (σ²/τ²) I)⁻¹). Derived: σ²d/(n + σ²/τ²) ≤ R_Bayes − σ² ≤ σ²d/(n − d − 1) (Jensen; the
inverse-Wishart mean), so n(R_Bayes − σ²) → σ²d and ρ(n) → (τ²(d + 1) + σ²)/σ² = (d + 1 + σ²)/σ² at τ² = 1: bounded
for each σ² but not uniformly — as σ² → 0 with n ≥ d, L* − σ² stays ≥ τ²d(d + 1)τ²/(τ²(n + d + 1) + σ²) while the
Bayes excess vanishes (Wu-near-Bayes-uniform, registered to be refuted).
"""
from __future__ import annotations

from iclgd.theory.claims import Citation, Claim, Part, Prediction, register
from iclgd.theory.errors import SettingError
from iclgd.theory.papers.bayes_ridge import bayes_excess, isotropic_only, tau2
from iclgd.theory.setting import Setting

WU = dict(
    authors="Jingfeng Wu and Difan Zou and Zixiang Chen and Vladimir Braverman and Quanquan Gu and Peter L. Bartlett",
    title="How Many Pretraining Tasks Are Needed for In-Context Learning of Linear Regression?",
    venue="International Conference on Learning Representations (ICLR)", year=2024,
    url="https://arxiv.org/abs/2310.08391", bibkey="wu2024howmany")
UNIFORM_C = 100.0  # the constant of the over-generalisation Wu-near-Bayes-uniform


def lsa_excess(d: int, n: int, sigma2: float, t2: float) -> float:
    """L* − σ² of the best Γ = ηI at x ~ N(0, I), w ~ N(0, τ² I): τ²d(τ²(d + 1) + σ²)/(τ²(n + d + 1) + σ²)."""
    return t2 * d * (t2 * (d + 1) + sigma2) / (t2 * (n + d + 1) + sigma2)


def _validate(s: Setting) -> None:
    isotropic_only("Wu-near-Bayes", "w ~ N(0, τ² I): τ² is --prior-scale")(s)
    if s.sigma2 == 0:
        raise SettingError("sigma2", "the excess-risk ratio needs σ² > 0 (at σ² = 0 and n ≥ d the Bayes excess is 0)")
    bayes_excess(s.d, s.n, s.sigma2, tau2(s))


def _predict(s: Setting, exact: bool) -> Prediction:
    t2 = tau2(s)
    lsa = lsa_excess(s.d, s.n, s.sigma2, t2)
    bayes, err = bayes_excess(s.d, s.n, s.sigma2, t2)
    ratio = lsa / bayes
    return Prediction(gamma=None, eta=None, loss=s.sigma2 + lsa, error=err, values={
        "lsa_risk": s.sigma2 + lsa, "bayes_risk": s.sigma2 + bayes, "excess_ratio": ratio,
        "excess_ratio_limit": (t2 * (s.d + 1) + s.sigma2) / s.sigma2})


register(Claim(
    id="Wu-near-Bayes",
    citation=Citation(**WU, theorem="one-layer linear attention is nearly Bayes optimal (abstract)"),
    tag="[paper]",
    statement="x ~ N(0, I_d), w ~ N(0, τ² I), noise σ² > 0: the optimal one-step-GD / one-layer LSA risk L* and the Bayes "
    "risk at the same n have the excess-risk ratio (L* − σ²)/(R_Bayes − σ²), finite at every n and tending to "
    "(τ²(d + 1) + σ²)/σ² ((d + 1 + σ²)/σ² at τ² = 1) as n → ∞.",
    assumptions=("x_j, x_q ~ N(0, I_d) i.i.d.", "w ~ N(0, τ² I_d), τ² = --prior-scale (default 1)",
                 "y_j = wᵀx_j + ε_j, ε_j ~ N(0, σ²), σ² > 0", "min(n, d) ≤ 8 (the Bayes risk's deterministic route)"),
    parts=(
        Part("the pretrained one-layer linear attention attains nearly Bayes-optimal ICL risk", "paper",
             "abstract (theorem number not read)"),
        Part("L* − σ² = τ²d(τ²(d + 1) + σ²)/(τ²(n + d + 1) + σ²) (the M1 / M2g optimum at Σ = I)", "derived"),
        Part("the excess-risk ratio's limit (τ²(d + 1) + σ²)/σ² by the Jensen / inverse-Wishart squeeze", "derived"),
        Part("'near Bayes' measured as the excess-risk ratio (L* − σ²)/(R_Bayes − σ²)", "convention"),
    ),
    kind="theorem", predict_fn=_predict, validate_fn=_validate, reads=("prior_scale",),
))

register(Claim(
    id="Wu-near-Bayes-uniform",
    citation=Citation(**WU, theorem="over-generalisation (not the paper's statement)"),
    tag="[derived]",
    statement=f"Over-generalisation, expected refuted: the one-layer LSA optimum is within a constant factor of Bayes "
    f"uniformly in the noise: (L* − σ²) ≤ {UNIFORM_C:g}·(R_Bayes − σ²) for every σ² > 0 (n > d + 1, τ² = 1).",
    assumptions=("x ~ N(0, I_d)", "w ~ N(0, I_d)", "σ² > 0", "n > d + 1"),
    parts=(Part(f"a σ²-free constant ({UNIFORM_C:g}) bounds the excess-risk ratio", "derived"),),
    kind="overgeneralisation",
))
