"""Spec of Fu-Newton (Fu et al. 2024; theory/papers/fu_et_al.py), an identity: its checks cannot fail by
construction (row ``checked-identity``). Exact: the iteration M_{j+1} = M_j (2I − S M_j) run in exact
rationals against the closed form M_k = S⁻¹(I − (I − αS²)^{2^k}) and ‖I − S M_k‖_F². Refutation: drop
‖I − αS²‖ < 1 (α λ_max² ≥ 2), and the residual grows instead of shrinking."""
from __future__ import annotations

import numpy as np
import sympy as sp
import torch
from hypothesis import strategies as st

from iclgd.empirics import more as emp
from iclgd.theory import Setting, get_claim

from .. import linear_checks as L
from ..checks import make_check
from ..spec import Refutation, Spec, register_spec
from ..strategies import dims, rational_spd


@st.composite
def settings(draw, max_d=None, max_n=None, mc=False):
    d = draw(dims(min(max_d or 4, 4)), label="d")
    return Setting(d, draw(st.integers(1, 5), label="k"), cov=draw(rational_spd(d), label="S"))


def exact_checks(s: Setting):
    S = s.Sigma_exact
    Mk = S / (S * S).trace()  # M₀ = αS, α = 1/tr(S²)
    for _ in range(s.n):  # the iteration itself, not the closed form
        Mk = Mk * (2 * sp.eye(s.d) - S * Mk)
    E = sp.eye(s.d) - S * Mk
    return L.exact_checks("Fu-Newton", s, get_claim("Fu-Newton").predict(s, exact=False), gamma=Mk,
                          loss=(E * E.T).trace())


@st.composite
def divergent(draw):
    d = draw(st.integers(1, 3), label="d")
    S = draw(rational_spd(d), label="S")
    c = draw(st.sampled_from([2.5, 3.0, 4.0]), label="α λ_max² (dropped: < 2)")
    alpha = c / float(np.linalg.eigvalsh(S)[-1]) ** 2
    return Setting(d, draw(st.integers(1, 4), label="k"), cov=S, extra=(("alpha", alpha),))


def divergent_exact(s: Setting):
    S, alpha = torch.as_tensor(s.Sigma), dict(s.extra)["alpha"]
    E0, Ek = (float(torch.linalg.matrix_norm(torch.eye(s.d, dtype=S.dtype) - S @ emp.newton_reference(S, alpha, j),
                                             ord=2)) for j in (0, s.n))
    return make_check("Fu-Newton", "‖I − S M_k‖₂ ≤ ‖I − S M₀‖₂ (convergence) with ‖I − αS²‖ ≥ 1", E0, Ek, 1e-9 * E0,
                      "float64 iterates; convergence would shrink the residual", s.to_json(), error=max(0.0, Ek - E0),
                      expect="refute")


register_spec(Spec(
    claim="Fu-Newton", settings=settings, exact=exact_checks,
    refutations=(Refutation("Newton's iteration converges for any step α",
                            "‖I − αS²‖ < 1: with α λ_max² ≥ 2 the residual (I − αS²)^{2^k} grows",
                            divergent, divergent_exact),),
))


# ---- convergence order and the linear-attention construction (tests/cover/test_fu_et_al.py) -----------
def newton_checks(s: Setting, seed: int) -> list:
    """Float64: the closed-form M_k against the iterated one; ‖E_{j+1}‖₂ = ‖E_j‖₂² (quadratic convergence,
    exact for symmetric E_j); the suite's linear-attention stack (one layer per Newton step) against the
    iterates. All identities of the suite's construction: they cannot fail for a correct implementation."""
    from iclgd.empirics.sampling import generator

    from ..checks import check

    pred = get_claim("Fu-Newton").predict(s, exact=False)
    S = torch.as_tensor(s.Sigma)
    alpha, k, d = float(pred.eta), s.n, s.d
    Mk = emp.newton_reference(S, alpha, k)
    where = {**s.to_json(), "seed": seed}
    cond = float(np.linalg.cond(s.Sigma))
    eps = np.finfo(float).eps
    tol = 8 * (k + 1) * d * cond**2 * eps * max(1.0, float(np.abs(pred.gamma).max()))
    why = "float64 rounding of k Newton steps: 8 (k+1) d κ(S)² ε |M_k|"
    out = [check("Fu-Newton", "M_k (closed form) vs iterated", Mk.numpy(), pred.gamma, tol, why, where)]
    E = [torch.linalg.matrix_norm(torch.eye(d, dtype=S.dtype) - S @ emp.newton_reference(S, alpha, j), ord=2)
         for j in range(k + 1)]
    sq = max(abs(float(E[j + 1] - E[j] ** 2)) for j in range(k))
    out.append(check("Fu-Newton", "‖E_{j+1}‖₂ = ‖E_j‖₂² (quadratic convergence)", 0.0, sq,
                     8 * (k + 1) * d * cond**2 * eps, why, where, error=sq))
    X = torch.randn(4, 3 * d + 2, d, dtype=torch.float64, generator=generator(seed))  # (B, n, d) in-context data
    Sx = X.mT @ X / X.shape[1]  # (B, d, d)
    ax = float(1 / (Sx @ Sx).diagonal(dim1=-2, dim2=-1).sum(-1).max())
    U = emp.newton_transformer(X, ax, k)  # (B, n, d)
    ref = X @ emp.newton_reference(Sx, ax, k)
    condx = float(torch.linalg.cond(Sx).max())
    tol_t = 16 * (k + 1) * X.shape[1] * d * condx**2 * eps * max(1.0, float(ref.abs().max()))
    out.append(check("Fu-Newton", "linear-attention stack (one layer per Newton step) vs M_k x_j", ref.numpy(),
                     U.numpy(), tol_t, "float64 rounding: 16 (k+1) n d κ(S)² ε |M_k x|", where))
    return out
