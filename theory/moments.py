"""Gaussian-moment engine: Isserlis/Wick over linear forms, with the dimension symbolic.

For x ~ N(0, Σ), E[∏_k ℓ_k(x)] is the sum over perfect matchings of the product of pair
covariances. A factor ℓ is either the scalar (P w)ᵀ x — a linear form whose coefficient vector is a
matrix P applied to the task vector w — or a *free slot* of x (the left or right index of an
x xᵀ). Pairings give (Isserlis):
  (P₁w)ᵀx · (P₂w)ᵀx  →  wᵀ P₁ᵀ Σ P₂ w        (a quadratic form in w)
  (P w)ᵀx · x_left    →  Σ P w                 (the left vector)
  (P w)ᵀx · x_right   →  wᵀ Pᵀ Σ               (the right vector)
  x_left · x_right    →  Σ                     (the matrix itself)
The result is a list of :class:`Term`\\s, still random in w; :func:`expect_w` then takes the
Gaussian expectation over w ~ N(0, Σ_w) of terms of total degree ≤ 2 in w. All matrices are SymPy
matrix expressions, so d may be a symbol (``MatrixSymbol``/``Identity(d)``) or a concrete size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import sympy as sp
from sympy import Identity, Trace, ZeroMatrix


@dataclass(frozen=True)
class Lin:
    """The scalar linear form (P w)ᵀ x."""

    P: sp.MatrixExpr


SLOT_L, SLOT_R = "L", "R"
Factor = Union[Lin, str]


@dataclass(frozen=True)
class Term:
    """coef · ∏_k (wᵀ A_k w) · X, with X = (L w)(R' w)ᵀ as ``L w wᵀ R`` (both set), or ``mid``."""

    coef: sp.Expr
    quads: tuple = ()  # matrices A_k of the quadratic forms wᵀ A_k w
    L: Optional[sp.MatrixExpr] = None  # left vector is L w
    R: Optional[sp.MatrixExpr] = None  # right vector is wᵀ R
    mid: Optional[sp.MatrixExpr] = None  # a constant matrix (both slots paired to each other)


def _matchings(items: Sequence[int]):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for k, other in enumerate(rest):
        for m in _matchings(rest[:k] + rest[k + 1:]):
            yield [(first, other)] + m


def isserlis(factors: Sequence[Factor], Sigma: sp.MatrixExpr, coef=sp.Integer(1)) -> list[Term]:
    """E_x[∏ factors] for x ~ N(0, Σ), as a sum of Terms (odd numbers of factors give [])."""
    if len(factors) % 2:
        return []
    out = []
    for m in _matchings(list(range(len(factors)))):
        quads, L, R, mid = [], None, None, None
        for i, j in m:
            a, b = factors[i], factors[j]
            if isinstance(a, str) and isinstance(b, str):
                mid = Sigma
            elif isinstance(a, str) or isinstance(b, str):
                slot, lin = (a, b) if isinstance(a, str) else (b, a)
                if slot == SLOT_L:
                    L = Sigma * lin.P
                else:
                    R = lin.P.T * Sigma
            else:
                quads.append(a.P.T * Sigma * b.P)
        out.append(Term(coef, tuple(quads), L, R, mid))
    return out


def expect_w(terms: Sequence[Term], Sigma_w: sp.MatrixExpr, d) -> sp.MatrixExpr:
    """E_w over w ~ N(0, Σ_w) of Terms of degree ≤ 2 in w (what E[g gᵀ], E[w gᵀ] need)."""
    total = ZeroMatrix(d, d)
    for t in terms:
        degree = 2 * len(t.quads) + (t.L is not None) + (t.R is not None)
        if degree > 2:
            raise ValueError(f"expect_w: degree {degree} in w is beyond this engine (max 2)")
        if t.mid is not None:  # coef · (wᵀAw)^{0 or 1} · M
            scal = Trace(t.quads[0] * Sigma_w) if t.quads else 1
            total = total + t.coef * scal * t.mid
        elif t.L is not None and t.R is not None:  # coef · L w wᵀ R
            total = total + t.coef * t.L * Sigma_w * t.R
        # a lone L or R is odd in w: expectation 0
    return total


def simplify_matrix(expr: sp.MatrixExpr) -> sp.MatrixExpr:
    """Canonical form: expand, evaluate identities, traces of identities, and collect."""
    return sp.simplify(sp.expand(expr.doit()).doit())
