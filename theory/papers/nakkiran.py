"""Nakkiran-monotone (Nakkiran, Venkat, Kakade, Ma, ICLR 2021): isotropic x, a fixed task vector β with ‖β‖² = r²:
optimally tuned ridge has λ_opt = dσ²/r² for every n, and its risk is non-increasing in n; min-norm OLS
(λ = 0) is not (Nakkiran-OLS-monotone, registered to be refuted).

Derivation (here): ridge β̂ = (XᵀX + λI)⁻¹Xᵀy (objective ‖y − Xβ‖² + λ‖β‖², the convention taken) has excess
risk E‖β̂ − β‖² = E Σ_i [λ²(u_iᵀβ)² + σ²μ_i]/(μ_i + λ)² over the eigenpairs (μ_i, u_i) of XᵀX; the u_i are Haar
and independent of the μ_i, so E(u_iᵀβ)² = r²/d and the risk depends on β through r² alone. Each term's λ-derivative
is 2μ_i(λr²/d − σ²)/(μ_i + λ)³, zero at λ = dσ²/r² whatever μ_i: the optimum is the same for every eigenvalue law,
hence for every n, and equals the Bayes-ridge λ of the prior N(0, (r²/d) I), whose risk (Bayes-ridge's route,
iclgd.theory.wishart) is non-increasing in n because the Bayes predictor with n + 1 examples may ignore one.
Under the (1/n)-normalised objective the same estimator has λ = dσ²/(n r²), which does depend on n.
"""
from __future__ import annotations

from iclgd.theory.claims import Citation, Claim, Param, Part, Prediction, register
from iclgd.theory.errors import SettingError
from iclgd.theory.papers.bayes_ridge import bayes_excess, isotropic_only
from iclgd.theory.setting import Setting

NAKKIRAN = dict(
    authors="Preetum Nakkiran and Prayaag Venkat and Sham Kakade and Tengyu Ma",
    title="Optimal Regularization Can Mitigate Double Descent",
    venue="International Conference on Learning Representations (ICLR)", year=2021,
    url="https://arxiv.org/abs/2003.01897", bibkey="nakkiran2021optimal")
R2 = Param("r2", "r² = ‖β‖² of a fixed task vector (or E‖w‖² of its prior)", lo=0.0, lo_open=True,
           hi=1e12, default=1.0)


def optimal_ridge(s: Setting, n: int, r2: float) -> tuple[float, float]:
    """(risk σ² + excess, error) of ridge at λ = dσ²/r² with n examples (Bayes-ridge at τ² = r²/d)."""
    excess, err = bayes_excess(s.d, n, s.sigma2, r2 / s.d, flag_n="n", flag_d="d")
    return s.sigma2 + excess, err


def _validate(s: Setting) -> None:
    isotropic_only("Nakkiran-monotone", "a fixed β with ‖β‖² = --r2")(s)
    if s.n + 1 > 10**6:
        raise SettingError("n", f"must be below 10^6 (the risk at n + 1 is reported too), got {s.n}")
    r2 = NAKKIRAN_CLAIM.param(s, "r2")
    optimal_ridge(s, s.n + 1, r2)


def _predict(s: Setting, exact: bool) -> Prediction:
    r2 = NAKKIRAN_CLAIM.param(s, "r2")
    risk, err = optimal_ridge(s, s.n, r2)
    risk_next, err_next = optimal_ridge(s, s.n + 1, r2)
    lam = s.d * s.sigma2 / r2
    return Prediction(gamma=None, eta=None, loss=risk, error=max(err, err_next), values={
        "lambda_opt": lam, "lambda_opt_normalised": lam / s.n, "risk_opt": risk, "excess_risk_opt": risk - s.sigma2,
        "risk_opt_next_n": risk_next})


NAKKIRAN_CLAIM = register(Claim(
    id="Nakkiran-monotone",
    citation=Citation(**NAKKIRAN, theorem="optimally tuned ridge is monotone in n, isotropic case (abstract)"),
    tag="[paper]",
    statement="x ~ N(0, I_d), a fixed β with ‖β‖² = r², y = βᵀx + N(0, σ²): ridge (XᵀX + λI)⁻¹Xᵀy tuned optimally has "
    "λ_opt = dσ²/r² for every n (dσ²/(n r²) under the (1/n)-normalised objective) and risk σ² + σ² E tr((XᵀX + λ_opt I)⁻¹), "
    "non-increasing in n.",
    assumptions=("x_j, x_q ~ N(0, I_d) i.i.d.", "β fixed, ‖β‖² = r² > 0 (--r2, default 1); only ‖β‖ matters",
                 "y_j = βᵀx_j + ε_j, ε_j ~ N(0, σ²) i.i.d.", "min(n + 1, d) ≤ 8 (the deterministic route's range)"),
    parts=(
        Part("for isotropic data, optimally tuned ridge has test risk monotone (non-increasing) in the sample size",
             "paper", "abstract (theorem number not read)"),
        Part("λ_opt = dσ²/r², the same for every eigenvalue law (per-eigenvalue derivative)", "derived"),
        Part("its risk equals the Bayes-ridge risk at τ² = r²/d (Haar eigenvectors)", "derived"),
        Part("objective ‖y − Xβ‖² + λ‖β‖² (λ independent of n); the (1/n)-normalised objective's λ is reported as "
             "lambda_opt_normalised", "convention"),
    ),
    kind="theorem", predict_fn=_predict, validate_fn=_validate, params=(R2,),
))

register(Claim(
    id="Nakkiran-OLS-monotone",
    citation=Citation(**NAKKIRAN, theorem="over-generalisation (not the paper's statement): unregularised OLS"),
    tag="[derived]",
    statement="Over-generalisation, expected refuted: without regularisation (min-norm least squares, λ → 0) the risk "
    "is still non-increasing in n.",
    assumptions=("x_j, x_q ~ N(0, I_d) i.i.d.", "β fixed, ‖β‖² = r²", "y_j = βᵀx_j + ε_j, ε_j ~ N(0, σ²), σ² > 0"),
    parts=(Part("the min-norm least-squares risk is non-increasing in n", "derived"),),
    kind="overgeneralisation", params=(R2,),
))
