"""Ding, Levinboim, Wu, Goodman & Soricut (ICLR 2024), "CausalLM is not optimal for in-context learning"
(arXiv:2308.06912; abstract read, full text not at hand).

The abstract states: a multi-layer linear self-attention (LSA) transformer under a gradient-descent parameter
construction converges at a linear rate in the number of layers; with a prefix mask (every in-context example
attends to every other) it converges to the least-squares solution, with a causal mask (example j attends to
i ≤ j) its dynamics follow online gradient descent, which is not optimal even as n → ∞.

The construction, as the suite writes it (convention: the source's normalisation could not be confirmed): the
label slot u_j of token j holds the residual y_j − w_jᵀx_j (u_q = −w_qᵀx_q for the query, which attends to the
n examples and never to itself), and each layer does

    u_j ← u_j − (η / N_j) Σ_{i ∈ A(j)} (x_jᵀ x_i) u_i,   A(j) = {1..n} (prefix) or {1..min(j, n)} (causal),

with N_j = n (``--normalisation 0``, the prefix's own 1/n) or N_j = |A(j)| (``--normalisation 1``, a causal
average). Derived here: the prefix limit is min-norm least squares (GD on the residuals from w = 0); the causal
fixed point has Σ_{i≤j} u_i x_i = 0 for every j, so u_j = 0, and its increments keep N_j w_j − N_{j−1} w_{j−1}
in span(x_j), which fixes it by the recursion (w_0 = 0, P_j = x_j x_jᵀ/‖x_j‖²)

    N_j = n:    w_j = w_{j−1} + P_j-step   (Kaczmarz / normalised LMS with unit step: w_jᵀx_j = y_j),
    N_j = j:    w_j = w̃ + x_j (y_j − w̃ᵀx_j)/‖x_j‖²,  w̃ = ((j−1)/j) w_{j−1},

and the query, whose N is n = N_n, shares w_n. For x, w ~ N(0, I), ε ~ N(0, σ²), with ρ = 1 − 1/d and
ν = σ² E‖x‖⁻² = σ²/(d − 2), the excess risk a_j = E‖w − w_j‖² and b_j = E wᵀ(w − w_j) follow

    a_j = ρ E‖v_j‖² + ν,  b_j = ρ E wᵀv_j,  v_j = w − w̃ (= e_{j−1} for N_j = n; w/j + ((j−1)/j) e_{j−1} for j),

a_0 = b_0 = d, so the causal risk is σ² + a_n, which tends to σ²(1 + d/(d − 2)) as n → ∞, while least squares'
σ²(1 + d/(n − d − 1)) tends to σ². Finite only for d ≥ 3 when σ² > 0 (E‖x‖⁻² = ∞ for d ≤ 2).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from iclgd.theory.claims import REGISTRY, Citation, Claim, Param, Part, Prediction, register
from iclgd.theory.errors import SettingError
from iclgd.theory.setting import Setting, exact

PAPER = dict(
    authors="Nan Ding and Tomer Levinboim and Jialin Wu and Sebastian Goodman and Radu Soricut",
    title="CausalLM is not optimal for in-context learning",
    venue="International Conference on Learning Representations (ICLR)",
    year=2024,
    url="https://arxiv.org/abs/2308.06912",
    bibkey="ding2024causallm",
)

PARAMS = (Param("normalisation", "causal layer's average: 0 = 1/n at every position (the prefix's), 1 = 1/j over "
                "the j examples position j attends to", lo=0, hi=1, integer=True, default=0),)


def causal_limit_weights(X: np.ndarray, y: np.ndarray, normalisation: int) -> np.ndarray:
    """The causal stack's fixed point w_n (derived recursion of the module docstring); X (n, d), y (n,)."""
    w = np.zeros(X.shape[1])
    for j, (x, yj) in enumerate(zip(X, y), start=1):
        base = w * ((j - 1) / j) if normalisation else w
        w = base + x * (yj - base @ x) / (x @ x)
    return w


def prefix_limit_weights(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The prefix stack's limit: min-norm least squares X⁺y."""
    return np.linalg.pinv(X) @ y


def causal_excess(d: int, n: int, sigma2, normalisation: int):
    """(a_n, b_n) of the recursion of the module docstring; exact Fractions for Fraction σ²."""
    one = Fraction(1) if isinstance(sigma2, Fraction) else 1.0
    rho = one - one / d
    nu = sigma2 / (d - 2) if sigma2 else 0 * one
    a = b = d * one
    for j in range(1, n + 1):
        if normalisation:
            v2 = one * d / j ** 2 + 2 * one * (j - 1) / j ** 2 * b + (one * (j - 1) / j) ** 2 * a
            vw = one * d / j + one * (j - 1) / j * b
        else:
            v2, vw = a, b
        a, b = rho * v2 + nu, rho * vw
    return a, b


def ls_risk(d: int, n: int, sigma2):
    """Risk of min-norm least squares for x, w ~ N(0, I): σ²(1 + d/(n − d − 1)) for n ≥ d + 2, σ² + (d − n)
    + σ² n/(d − n − 1) for n ≤ d − 2 (E (XᵀX)⁻¹ = I/(n − d − 1) and its dual), (d − n)⁺ without noise."""
    one = Fraction(1) if isinstance(sigma2, Fraction) else 1.0
    if n >= d + 2:
        return sigma2 * (1 + one * d / (n - d - 1))
    if n <= d - 2:
        return sigma2 + (d - n) * one + sigma2 * one * n / (d - n - 1)
    if sigma2 == 0:
        return max(d - n, 0) * one
    raise ValueError("least squares' risk is infinite for |n − d| ≤ 1 with noise")


def _validate(s: Setting) -> None:
    if s.cov is not None or s.cov_w is not None:
        raise SettingError("cov" if s.cov is not None else "cov_w", "Ding-causal assumes x, w ~ N(0, I)")
    if s.target != "linear":
        raise SettingError("target", "Ding-causal assumes linear responses y = wᵀx + ε")
    if s.sigma2 > 0 and s.d <= 2:
        raise SettingError("sigma2", f"with noise the causal limit's risk is infinite for d ≤ 2 (E‖x‖⁻² = ∞), got d={s.d}")
    if s.sigma2 > 0 and abs(s.n - s.d) <= 1:
        raise SettingError("n", f"with noise least squares' risk is infinite for |n − d| ≤ 1, got n={s.n}, d={s.d}")


def _predict(s: Setting, exact_values: bool) -> Prediction:
    k = REGISTRY["Ding-causal"].param(s, "normalisation")
    a, _ = causal_excess(s.d, s.n, s.sigma2, k)
    causal, prefix = s.sigma2 + a, ls_risk(s.d, s.n, s.sigma2)
    limit = s.sigma2 * (1 + s.d / (s.d - 2)) if s.sigma2 else 0.0
    ex = None
    if exact_values:
        s2 = Fraction(str(exact(s.sigma2)))
        ae, _ = causal_excess(s.d, s.n, s2, k)
        ex = {"loss": str(s2 + ae), "prefix_limit_risk": str(ls_risk(s.d, s.n, s2))}
    return Prediction(gamma=None, eta=None, loss=causal, exact=ex, error=1e-14 * max(1.0, causal, prefix),
                      values={"causal_limit_risk": causal, "prefix_limit_risk": prefix,
                              "causal_risk_n_infinity": limit})


register(Claim(
    id="Ding-causal",
    citation=Citation(**PAPER, theorem="prefixLM vs causalLM convergence (abstract)"),
    tag="[paper]",
    statement="Multi-layer LSA with the GD construction: as layers → ∞ the prefix-masked stack converges to least "
    "squares, the causal-masked one to an online recursion (w_jᵀx_j = y_j, Kaczmarz-like) whose risk σ² + a_n "
    "(derived) tends to σ²(1 + d/(d − 2)) as n → ∞, not to σ².",
    assumptions=("x, w ~ N(0, I_d), y = wᵀx + ε, ε ~ N(0, σ²)", "the query attends to the n examples, never to itself",
                 "step η within the stack's convergence range", "d ≥ 3 and |n − d| ≥ 2 when σ² > 0 (finite risks)"),
    parts=(
        Part("both stacks converge at a linear rate in the layers; prefix to the least-squares solution, causal to "
             "online gradient descent, not optimal even as n → ∞", "paper", "abstract"),
        Part("the causal fixed point is the recursion w_j = w̃ + x_j(y_j − w̃ᵀx_j)/‖x_j‖² (w̃ = w_{j−1}, or "
             "((j−1)/j)w_{j−1} under 1/j) and its risk recursion a_j, b_j", "derived"),
        Part("causal risk → σ²(1 + d/(d − 2)) as n → ∞; least squares' → σ²", "derived"),
        Part("the label slot holds the residual, the query never attends to itself; normalisation 1/n "
             "(--normalisation 0) or 1/j (--normalisation 1)", "convention"),
    ),
    predict_fn=_predict, validate_fn=_validate, params=PARAMS,
))

register(Claim(
    id="Ding-causal-LS",
    citation=Citation(**PAPER, theorem="over-generalisation of the prefix limit (derived)"),
    tag="[derived]",
    statement="Over-generalisation, expected to be refuted: the causal-masked LSA stack converges to least squares "
    "too (the mask does not matter in the limit).",
    assumptions=("x, w ~ N(0, I_d)", "n ≥ 2 examples, d ≥ 2"),
    parts=(Part("the causal limit w_n differs from X⁺y for generic X once n ≥ 2 and d ≥ 2", "derived"),),
    kind="overgeneralisation",
))
