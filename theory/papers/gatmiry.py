"""Gatmiry, Saunshi, Reddi, Jegelka & Kumar (ICML 2024), "Can Looped Transformers Learn to Implement Multi-step
Gradient Descent for In-context Learning?" (arXiv:2410.08292; abstract read, full text not at hand): one linear
self-attention layer looped L times, weights shared across the loops, implements multi-step preconditioned GD.

The isotropic case is derived here (the paper's general statements are not encoded). L steps of GD on the
in-context least-squares risk from w₀ = 0 with steps a_ℓ (the read-out of an L-layer linear transformer with
A_ℓ = a_ℓ I, Ahn et al.'s sparse layout without value block) give w_L = Q(S) g, S = XᵀX/n, g = Xᵀy/n, with

    P(s) = Π_ℓ (1 − a_ℓ s),   Q(s) = (1 − P(s))/s,
    L(a) = σ² + E tr P(S)² + (σ²/n) E tr(Q(S)² S)            (x, w ~ N(0, I), E ξξᵀ | X = σ² S/n),

a polynomial in the steps whose coefficients are Wishart moments m_k = E tr S^k. These are derived by Wick's
theorem on X's entries: E tr (XᵀX)^k = Σ over the (2k − 1)!! pairings of the 2k factors of n^{#row classes}
d^{#column classes} (:func:`wishart_trace_moment`). Writing P(s) = 1 + Σ_k p_k s^k, the loss is quadratic in p:
L = σ² + d + 2bᵀp + pᵀHp with b_k = m_k, H_kl = m_{k+l} + (σ²/n) m_{k+l−1}, so the best L-step GD (unshared
layers) is p* = −H⁻¹b, whose steps are the reciprocals of P*'s roots when these are real. They are complex at
high noise (e.g. σ² = 2, L = 2, n·d ≤ 6): for L = 2 the best real steps are then equal, a₁ = a₂ = the looped
step (:func:`real_unshared_optimum`), so looping costs nothing there; for L = 3 the claim refuses such settings
(not derived). The looped layer is P = (1 − as)^L: the best shared step minimises a polynomial of degree 2L in
a. L = 1 is M1: a = n/(n + d + 1 + σ²).
"""
from __future__ import annotations

import itertools
from fractions import Fraction
from functools import lru_cache

import numpy as np
import sympy as sp

from iclgd.theory.claims import REGISTRY, Citation, Claim, Param, Part, Prediction, register
from iclgd.theory.errors import SettingError
from iclgd.theory.setting import Setting, exact

PAPER = dict(
    authors="Khashayar Gatmiry and Nikunj Saunshi and Sashank J. Reddi and Stefanie Jegelka and Sanjiv Kumar",
    title="Can Looped Transformers Learn to Implement Multi-step Gradient Descent for In-context Learning?",
    venue="International Conference on Machine Learning (ICML)",
    year=2024,
    url="https://arxiv.org/abs/2410.08292",
    bibkey="gatmiry2024looped",
)
LAYERS_MAX = 3  # Wishart moments up to E tr S⁶ (10 395 pairings)
n_sym, d_sym = sp.symbols("n d", positive=True, integer=True)


def _pairings(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for k, other in enumerate(rest):
        for m in _pairings(rest[:k] + rest[k + 1:]):
            yield [(first, other)] + m


@lru_cache(maxsize=None)
def wishart_trace_moment(k: int) -> sp.Expr:
    """E tr (XᵀX)^k as a polynomial in (n, d), X (n × d) with i.i.d. N(0, 1) entries, by Wick's theorem: factor
    2t is X[a_t, i_t], factor 2t+1 is X[a_t, i_{t+1}] (i_k = i_0); a pairing merges the rows and the columns of
    its two factors, and contributes n^{#row classes} d^{#column classes}."""
    if k == 0:
        return d_sym
    rows = [t for t in range(k) for _ in (0, 1)]  # the row index of each factor
    cols = [c for t in range(k) for c in (t, (t + 1) % k)]  # the column index of each factor
    total = sp.Integer(0)
    counts: dict = {}
    for m in _pairings(list(range(2 * k))):
        parent = list(range(2 * k))  # union-find over k rows (0..k−1) and k columns (k..2k−1)

        def find(u):
            while parent[u] != u:
                parent[u] = parent[parent[u]]
                u = parent[u]
            return u

        for u, v in m:
            for a, b in ((rows[u], rows[v]), (k + cols[u], k + cols[v])):
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[ra] = rb
        key = (len({find(r) for r in range(k)}), len({find(k + c) for c in range(k)}))
        counts[key] = counts.get(key, 0) + 1
    for (r, c), v in counts.items():
        total += v * n_sym ** r * d_sym ** c
    return sp.expand(total)


def moments(d: int, n: int, kmax: int) -> list[Fraction]:
    """[E tr S^k for k = 0..kmax], S = XᵀX/n, exact."""
    return [Fraction(int(wishart_trace_moment(k).subs({n_sym: n, d_sym: d})), n ** k) for k in range(kmax + 1)]


def gd_loss_coefficients(d: int, n: int, sigma2: Fraction, L: int):
    """(c₀, b, H) of L(p) = c₀ + 2bᵀp + pᵀHp over P(s) = 1 + Σ_{k=1}^L p_k s^k (exact Fractions)."""
    m = moments(d, n, 2 * L)
    b = [m[k] for k in range(1, L + 1)]
    H = [[m[k + l] + sigma2 / n * m[k + l - 1] for l in range(1, L + 1)] for k in range(1, L + 1)]
    return sigma2 + d, b, H


def steps_loss(d: int, n: int, sigma2: float, steps) -> float:
    """L(a) for GD with steps a_1..a_L (float)."""
    L = len(steps)
    c0, b, H = gd_loss_coefficients(d, n, Fraction(str(sigma2)), L)
    p = np.polynomial.polynomial.polyfromroots([1.0 / a for a in steps if a != 0])
    coeffs = np.zeros(L + 1)
    coeffs[:len(p)] = p / p[0]  # P(0) = 1: P(s) = Π(1 − a s)
    pv = coeffs[1:]
    return float(c0 + 2 * np.dot(np.array(b, float), pv) + pv @ np.array(H, float) @ pv)


@lru_cache(maxsize=None)
def unshared_optimum(d: int, n: int, sigma2: Fraction, L: int):
    """(p*, L*) exact: p* = −H⁻¹b, L* = c₀ − bᵀH⁻¹b."""
    c0, b, H = gd_loss_coefficients(d, n, sigma2, L)
    Hm, bm = sp.Matrix(H), sp.Matrix(b)
    p = -Hm.LUsolve(bm)
    return tuple(sp.Rational(v) for v in p), sp.Rational(c0) + (bm.T * p)[0]


def steps_from_polynomial(p) -> np.ndarray:
    """Steps a_ℓ (ascending) with Π(1 − a_ℓ s) = 1 + Σ p_k s^k: reciprocals of the roots; complex if no real ones."""
    roots = np.roots([float(v) for v in reversed(p)] + [1.0])  # highest degree first
    return np.sort_complex(1.0 / roots)


@lru_cache(maxsize=None)
def shared_optimum(d: int, n: int, sigma2: Fraction, L: int):
    """(a*, L(a*)) for P = (1 − a s)^L: the real critical point of the degree-2L loss polynomial with the least
    loss (SymPy's real roots of L'(a), evaluated to 30 digits)."""
    c0, b, H = gd_loss_coefficients(d, n, sigma2, L)
    a = sp.Symbol("a", real=True)
    p = [sp.binomial(L, k) * (-a) ** k for k in range(1, L + 1)]
    loss = sp.expand(c0 + 2 * sum(sp.Rational(bk) * pk for bk, pk in zip(b, p))
                     + sum(sp.Rational(H[i][j]) * p[i] * p[j] for i in range(L) for j in range(L)))
    crit = [r for r in sp.Poly(sp.diff(loss, a), a).real_roots()]
    vals = [(sp.N(loss.subs(a, r), 40), r) for r in crit]
    best_val, best = min(vals, key=lambda t: t[0])
    return best, best_val


def real_unshared_optimum(d: int, n: int, sigma2: Fraction, L: int):
    """(steps ascending, loss) of the best L-step GD with *real* steps. When P*'s roots are real, they are it.
    For L = 2 with complex roots the loss is a convex quadratic in (e₁, e₂) = (a₁ + a₂, a₁a₂) minimised outside the
    real region {e₂ ≤ e₁²/4}, whose complement is convex: the best real point lies on e₂ = e₁²/4, a₁ = a₂ — the
    looped layer. For L = 3 with complex roots: ValueError (not derived)."""
    p, Lu = unshared_optimum(d, n, sigma2, L)
    steps = steps_from_polynomial(p)
    if not np.abs(steps.imag).max():
        return steps.real, Lu
    if L == 2:
        a, La = shared_optimum(d, n, sigma2, L)
        return np.array([float(sp.N(a, 30))] * 2), sp.nsimplify(La) if La.is_Rational else La
    raise ValueError(f"the best {L}-step polynomial has complex roots: its best real steps are not derived")


def _validate(claim_id: str, layers: bool):
    def v(s: Setting) -> None:
        if s.cov is not None or s.cov_w is not None:
            raise SettingError("cov" if s.cov is not None else "cov_w", f"{claim_id} assumes x, w ~ N(0, I)")
        if s.target != "linear":
            raise SettingError("target", f"{claim_id} assumes linear responses y = wᵀx + ε")
        L = REGISTRY[claim_id].param(s, "layers") if layers else 2
        try:
            real_unshared_optimum(s.d, s.n, Fraction(str(exact(s.sigma2))), L)
        except ValueError:
            raise SettingError("--layers", f"at d={s.d}, n={s.n}, σ²={s.sigma2} the best {L}-step polynomial has complex "
                               "roots: the best real steps for L = 3 are not derived (L ≤ 2 is)") from None
    return v


def _predict(s: Setting, exact_values: bool) -> Prediction:
    L = REGISTRY["Gatmiry-loop"].param(s, "layers")
    s2 = Fraction(str(exact(s.sigma2)))
    a, La = shared_optimum(s.d, s.n, s2, L)
    steps, Lu = real_unshared_optimum(s.d, s.n, s2, L)
    a, La, Lu = float(sp.N(a, 30)), float(La), float(sp.N(Lu, 30))
    ex = None
    if exact_values:
        ex = {"loss_unshared": str(real_unshared_optimum(s.d, s.n, s2, L)[1]),
              "eta": str(shared_optimum(s.d, s.n, s2, L)[0])}
    return Prediction(gamma=a * np.eye(s.d), eta=a, loss=La, exact=ex, error=1e-12 * max(1.0, La),
                      values={"shared_step": a, "loss_shared": La, "unshared_steps": steps, "loss_unshared": Lu,
                              "loop_cost": La - Lu})


register(Claim(
    id="Gatmiry-loop",
    citation=Citation(**PAPER, theorem="looped linear attention implements multi-step GD (abstract); isotropic "
                      "optimum derived"),
    tag="[derived]",
    statement="One linear-attention layer looped L times with shared weights, x, w ~ N(0, I): its best shared step a* "
    "minimises the degree-2L loss polynomial L((1 − aS)^L) in Wishart moments; unshared layers (L-step GD with its "
    "best real steps) reach a loss lower by loop_cost ≥ 0, > 0 where the best L-step polynomial has real distinct "
    "roots (low noise), 0 for L = 2 where its roots are complex (high noise).",
    assumptions=("x, w ~ N(0, I_d), y = wᵀx + ε, ε ~ N(0, σ²)", "A_ℓ = a I (isotropic preconditioner), no value block",
                 "1 ≤ L ≤ 3 loops"),
    parts=(
        Part("a looped linear-attention layer can implement multi-step gradient descent in context", "paper",
             "abstract"),
        Part("the L-step loss σ² + E tr P(S)² + (σ²/n) E tr(Q(S)²S), its Wishart moments by Wick's theorem, the best "
             "shared step and the best unshared steps", "derived"),
        Part("for L = 2 at high noise the best real steps coincide with the looped step (loop_cost = 0)", "derived"),
        Part("GD steps from w₀ = 0 with the least-squares gradient (1/n)Σ(y_i − wᵀx_i)x_i", "convention"),
    ),
    predict_fn=_predict, validate_fn=_validate("Gatmiry-loop", True),
    params=(Param("layers", "number of loops L of the shared layer (1 ≤ L ≤ 3)", lo=1, hi=LAYERS_MAX, integer=True,
                  default=2),),
))

register(Claim(
    id="Gatmiry-sharing-free",
    citation=Citation(**PAPER, theorem="over-generalisation of the looped construction (derived)"),
    tag="[derived]",
    statement="Over-generalisation, expected to be refuted: sharing the weights of the L loops costs nothing (the "
    "looped optimum equals the best L-layer GD).",
    assumptions=("x, w ~ N(0, I_d)", "L ≥ 2"),
    parts=(Part("where the best L-step polynomial has real distinct roots no shared step attains its loss", "derived"),),
    kind="overgeneralisation",
))
