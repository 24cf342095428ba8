"""Hypothesis strategies for the settings the theorems speak about.

Sizes follow the active profile (:func:`iclgd.properties.profile.scale`); randomness that is not
drawn by Hypothesis itself comes from a drawn seed through ``numpy.random.default_rng`` — never from
global state — so every example replays exactly.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from .profile import scale

SPD_KINDS = ("scaled-identity", "diagonal", "rotated", "near-singular")  # shrinks toward the simplest


def seeds():
    return st.integers(0, 2**32 - 1)


def dims(max_d: int | None = None):
    return st.integers(1, max_d or scale().d_max)


def context_lengths(max_n: int | None = None):
    """n ≥ 1, including n < d."""
    return st.integers(1, max_n or scale().n_max)


def noise_levels(max_sigma2: float = 2.0):
    """σ² ≥ 0 with 0 as a first-class value; 3 decimals so exact rationals stay small."""
    return st.one_of(st.just(0.0), st.floats(0.0, max_sigma2).map(lambda v: round(v, 3)))


def haar_rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    """Haar-distributed orthogonal matrix: QR of a Gaussian matrix with the signs of diag(R) fixed."""
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))
    return Q * np.sign(np.diag(R))


@st.composite
def spd_matrices(draw, d: int, cond_max: float = 10.0, kinds=SPD_KINDS):
    """Σ = s · U diag(λ) Uᵀ with λ ∈ [1, κ], κ ≤ ``cond_max`` drawn, U Haar (or I for ``diagonal``).

    ``near-singular`` puts κ at the bound (the worst conditioning allowed); ``scaled-identity`` is s I.
    """
    kind = draw(st.sampled_from(kinds), label="spd kind")
    s = draw(st.sampled_from([0.5, 1.0, 2.0]), label="scale")
    if kind == "scaled-identity" or d == 1:
        return s * np.eye(d)
    rng = np.random.default_rng(draw(seeds(), label="spd seed"))
    kappa = cond_max if kind == "near-singular" else draw(st.floats(1.0, cond_max), label="condition")
    inner = np.sort(rng.uniform(0.0, 1.0, d - 2)) if d > 2 else np.array([])
    lam = kappa ** np.concatenate([[0.0], inner, [1.0]])  # spectrum spans exactly [1, κ]
    U = np.eye(d) if kind == "diagonal" else haar_rotation(d, rng)
    S = s * (U * lam) @ U.T
    return (S + S.T) / 2


@st.composite
def priors(draw, Sigma: np.ndarray):
    """(name, Σ_w): N(0, I) (Σ_w = None), N(0, Σ⁻¹), or a general SPD Σ_w."""
    name = draw(st.sampled_from(["identity", "inverse", "general"]), label="prior")
    if name == "identity":
        return name, None
    if name == "inverse":
        Sw = np.linalg.inv(Sigma)
        return name, (Sw + Sw.T) / 2
    return name, draw(spd_matrices(len(Sigma), cond_max=5.0), label="Σ_w")


def targets(d: int, invariant: bool | None = True):
    """M3 target spec strings: rotation-invariant families, non-invariant ``relu-aniso``, or either."""
    inv = st.one_of(st.sampled_from(["linear", "relu", "tanh"]),
                    st.integers(1, 4).map(lambda m: f"relu-sum:{m}"))
    aniso = (st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0]), min_size=d, max_size=d)
             .filter(lambda s: len(set(s)) > 1 and any(s))
             .map(lambda s: "relu-aniso:" + ",".join(repr(v) for v in s)))
    if invariant is True:
        return inv
    if invariant is False:
        if d < 2:
            raise ValueError("d: a non-invariant relu-aniso family needs d >= 2")
        return aniso
    return st.one_of(inv, aniso) if d >= 2 else inv


def settings_for(claim_id: str, max_d: int | None = None, max_n: int | None = None):
    """A validated Setting within ``claim_id``'s assumptions: the strategy of its registered Spec
    (properties/papers, or another package's)."""
    from .spec import SPECS, load

    load()
    if claim_id not in SPECS:
        raise ValueError(f"claim_id: no Spec (settings strategy) registered for {claim_id!r}")
    return SPECS[claim_id].settings(max_d=max_d, max_n=max_n)


def rounded_spd(d: int, cond_max: float = 10.0):
    """SPD matrices of :func:`spd_matrices`, rounded to 3 decimals (still SPD: the rounding error
    ≤ 5e-4·d is far below the smallest eigenvalue ≥ 0.5), so exact rational checks stay cheap."""
    return spd_matrices(d, cond_max).map(lambda S: np.round(S, 3))


@st.composite
def rational_spd(draw, d: int):
    """A Aᵀ + c I with small-integer A, c ∈ {1/2, 1, 2}: SPD with short rationals."""
    A = np.array(draw(st.lists(st.integers(-2, 2), min_size=d * d, max_size=d * d), label="A")).reshape(d, d)
    return A @ A.T + draw(st.sampled_from([1.0, 0.5, 2.0]), label="c") * np.eye(d)


def prior_scales():
    """ψ² of w ~ N(0, ψ² I): a few exact decimals, 1 first."""
    return st.sampled_from([1.0, 0.25, 0.5, 2.0, 4.0])


def half_widths():
    """a of U(−a, a): a few exact decimals, 1 first."""
    return st.sampled_from([1.0, 0.5, 1.5, 2.0, 3.0, 0.1])


def means(d: int):
    """β: vectors of one-decimal entries in [−2, 2], at least one non-zero."""
    return st.lists(st.integers(-20, 20), min_size=d, max_size=d).filter(any).map(lambda v: [x / 10 for x in v])


def orderings(n: int):
    """Permutations of range(n), as tuples."""
    return st.permutations(list(range(n))).map(tuple)


def transpositions(n: int):
    """Pairs (i, j), 0 ≤ i < j < n (needs n ≥ 2)."""
    return st.tuples(st.integers(0, n - 2), st.integers(1, n - 1)).filter(lambda t: t[0] < t[1])
