"""Hypothesis strategies for the claims of shared/CLAIMS_MORE.md (ZFB … M2m).

Matrices and vectors use few decimals (or small integers) so that the exact rational checks stay
cheap; sizes follow the active profile. ``mc=True`` restricts to settings whose Monte Carlo error
bars are valid (finite fourth moments of the per-prompt error: OLS with noise needs n ≥ d + 4).
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from iclgd.theory import Setting

from .profile import scale
from .strategies import context_lengths, dims, noise_levels, priors, spd_matrices

MORE_CLAIMS = ("ZFB", "ZFB-length", "Wu-length", "GD-average", "OLS", "vO-uniform", "Fu-Newton", "M2m")


def rounded_spd(d: int, cond_max: float = 10.0):
    """SPD matrices of :func:`spd_matrices`, rounded to 3 decimals (still SPD: the rounding error
    ≤ 5e-4·d is far below the smallest eigenvalue ≥ 0.5)."""
    return spd_matrices(d, cond_max).map(lambda S: np.round(S, 3))


@st.composite
def rational_spd(draw, d: int):
    """A Aᵀ + c I with small-integer A, c ∈ {1/2, 1, 2}: SPD with short rationals (Fu-Newton)."""
    A = np.array(draw(st.lists(st.integers(-2, 2), min_size=d * d, max_size=d * d), label="A")).reshape(d, d)
    return A @ A.T + draw(st.sampled_from([1.0, 0.5, 2.0]), label="c") * np.eye(d)


def prior_scales():
    return st.sampled_from([1.0, 0.25, 0.5, 2.0, 4.0])


def half_widths():
    """a of U(−a, a): a few exact decimals, 1 first."""
    return st.sampled_from([1.0, 0.5, 1.5, 2.0, 3.0, 0.1])


def means(d: int):
    """β: vectors of one-decimal entries in [−2, 2], at least one non-zero."""
    return st.lists(st.integers(-20, 20), min_size=d, max_size=d).filter(any).map(lambda v: [x / 10 for x in v])


@st.composite
def settings_more(draw, claim_id: str, max_d: int | None = None, max_n: int | None = None, mc: bool = False):
    """A validated Setting within ``claim_id``'s assumptions."""
    d = draw(dims(max_d), label="d")
    max_n = max_n or scale().n_max
    if claim_id in ("ZFB", "ZFB-length"):
        n = draw(context_lengths(max_n), label="N")
        M = draw(st.integers(1, 4 * max_n), label="M") if claim_id == "ZFB-length" else None
        return Setting(d, n, 0.0, cov=draw(rounded_spd(d), label="Λ"), test_n=M)
    if claim_id == "Wu-length":
        return Setting(d, draw(context_lengths(max_n), label="N"), draw(noise_levels(), label="σ²"),
                       cov=draw(rounded_spd(d), label="H"), prior_scale=draw(prior_scales(), label="ψ²"),
                       test_n=draw(st.integers(1, 4 * max_n), label="M"))
    if claim_id == "GD-average":
        return Setting(d, draw(context_lengths(max_n), label="n"), draw(noise_levels(), label="σ²"))
    if claim_id == "OLS":
        s2 = draw(noise_levels(), label="σ²")
        lo = 1 if s2 == 0 else d + (4 if mc else 2)
        return Setting(d, draw(st.integers(lo, lo + max_n), label="n"), s2)
    if claim_id == "vO-uniform":
        return Setting(d, draw(context_lengths(max_n), label="n"), draw(noise_levels(), label="σ²"),
                       x_dist=f"uniform:{draw(half_widths(), label='a')!r}")
    if claim_id == "Fu-Newton":
        return Setting(d, draw(st.integers(1, 5), label="k"), cov=draw(rational_spd(d), label="S"))
    if claim_id == "M2m":
        Sigma = draw(rounded_spd(d, 5.0), label="Σ")
        Sw = draw(priors(Sigma), label="prior")[1]
        return Setting(d, draw(context_lengths(max_n), label="n"), draw(noise_levels(), label="σ²"), cov=Sigma,
                       cov_w=None if Sw is None else np.round(Sw, 3), mean=draw(means(d), label="β"))
    raise ValueError(f"claim_id: no strategy for {claim_id!r}")
