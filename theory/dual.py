"""One closed form for NumPy arrays and SymPy matrices: ``lib(a)`` gives the inverse, identity, trace and
fraction of ``a``'s kind, so a claim's float prediction and its exact rational value are the same
expression (theory/papers)."""
from __future__ import annotations

import numpy as np
import sympy as sp


class Np:
    inv, eye, tr = staticmethod(np.linalg.inv), staticmethod(np.eye), staticmethod(np.trace)

    @staticmethod
    def frac(p, q):
        return p / q


class Sp:
    eye = staticmethod(sp.eye)

    @staticmethod
    def frac(p, q):
        return sp.Rational(p, q) if isinstance(p, int) and isinstance(q, int) else sp.sympify(p) / q

    @staticmethod
    def inv(a):
        return a.inv()

    @staticmethod
    def tr(a):
        return a.trace()


def lib(a):
    return Sp if isinstance(a, sp.MatrixBase) else Np
