"""`Setting`: the inputs a claim speaks about, validated once (shared/DESIGN.md).

Matrices are stored as tuples of tuples so a Setting is hashable, printable in a counterexample
record, and convertible exactly to SymPy rationals (the decimal a user typed is the rational meant).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional

import numpy as np
import sympy as sp

from .errors import SettingError
from .targets import parse_target

Matrix = tuple[tuple[float, ...], ...]


def as_matrix(param: str, value, d: int) -> Optional[Matrix]:
    """Validate a symmetric positive-definite (d, d) matrix; ``None`` passes through (identity)."""
    if value is None:
        return None
    try:
        raw = np.asarray(value)
        a = np.asarray(value, dtype=float) if raw.dtype.kind in "fiu" else None
    except (TypeError, ValueError, OverflowError) as e:
        raise SettingError(param, f"not a numeric matrix ({e})") from None
    if a is None:  # complex, boolean, object, text: refused, never cast
        raise SettingError(param, f"must be a real matrix, got dtype {raw.dtype}")
    if a.shape != (d, d):
        raise SettingError(param, f"shape {a.shape} does not match d={d}; expected ({d}, {d})")
    if not np.all(np.isfinite(a)):
        raise SettingError(param, "contains NaN or inf")
    scale = float(np.abs(a).max())
    if scale == 0:
        raise SettingError(param, "not positive definite (all entries 0)")
    u = a / scale  # scale-free checks: any finite scale of an SPD matrix is accepted
    if np.abs(u - u.T).max() > 1e-12:
        raise SettingError(param, "not symmetric")
    a = np.where(a == a.T, a, a / 2 + a.T / 2)  # exact where symmetric (x/2 underflows for subnormals)
    eig = np.linalg.eigvalsh((u + u.T) / 2)
    if eig[0] <= 0:
        raise SettingError(param, f"not positive definite (smallest eigenvalue {eig[0] * scale:.3g})")
    if eig[0] <= 1e-13 * eig[-1]:
        raise SettingError(param, f"ill-conditioned: condition number {eig[-1] / eig[0]:.3g} exceeds 1e13, "
                           "beyond which float64 keeps no reliable digit")
    return tuple(tuple(float(v) for v in row) for row in a)


def exact(x: float) -> sp.Rational:
    """The rational a float was written as (0.1 -> 1/10), via its shortest repr."""
    return sp.Rational(repr(float(x)))


@dataclass(frozen=True)
class Setting:
    """Inputs of a claim. ``cov``/``cov_w`` of ``None`` mean the identity."""

    d: int  # covariate dimension
    n: int  # number of in-context demonstrations
    sigma2: float = 0.0  # label-noise variance
    cov: Optional[Matrix] = None  # Σ, covariance of x (None = I)
    cov_w: Optional[Matrix] = None  # Σ_w, covariance of the task vector w (None = I)
    target: str = "linear"  # response family for M3 (see iclgd.theory.targets)
    extra: tuple = field(default=(), compare=True)  # (key, value) pairs later claims may need
    test_n: Optional[int] = None  # test prompt length M (ZFB-length, Wu-length); None = n
    prior_scale: Optional[float] = None  # ψ² of a prior w ~ N(0, ψ² I) (Wu-length); None = cov_w
    x_dist: str = "gaussian"  # law of x: "gaussian" (N(0, Σ)) or "uniform:a" (i.i.d. U(−a, a))
    mean: Optional[tuple[float, ...]] = None  # β, mean of the task vector w (M2m); None = 0

    def __post_init__(self):
        for name in ("d", "n"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise SettingError(name, f"must be an integer, got {v!r}")
            if v < 1:
                raise SettingError(name, f"must be >= 1, got {v}")
            object.__setattr__(self, name, int(v))
        try:
            s2 = float(self.sigma2)
        except (TypeError, ValueError):
            raise SettingError("sigma2", f"must be a number, got {self.sigma2!r}") from None
        if not math.isfinite(s2):
            raise SettingError("sigma2", "must be finite")
        if s2 < 0:
            raise SettingError("sigma2", f"must be >= 0, got {s2}")
        object.__setattr__(self, "sigma2", s2)
        object.__setattr__(self, "cov", as_matrix("cov", self.cov, self.d))
        object.__setattr__(self, "cov_w", as_matrix("cov_w", self.cov_w, self.d))
        parse_target(self.target, self.d)
        _check_more_fields(self)

    # numeric views -------------------------------------------------------------------------
    @property
    def Sigma(self) -> np.ndarray:
        return np.eye(self.d) if self.cov is None else np.array(self.cov)

    @property
    def Sigma_w(self) -> np.ndarray:
        return np.eye(self.d) if self.cov_w is None else np.array(self.cov_w)

    # exact views ---------------------------------------------------------------------------
    @property
    def Sigma_exact(self) -> sp.Matrix:
        return sp.eye(self.d) if self.cov is None else sp.Matrix([[exact(v) for v in r] for r in self.cov])

    @property
    def Sigma_w_exact(self) -> sp.Matrix:
        if self.cov_w is None:
            return sp.eye(self.d)
        return sp.Matrix([[exact(v) for v in r] for r in self.cov_w])

    @property
    def sigma2_exact(self) -> sp.Rational:
        return exact(self.sigma2)

    def replace(self, **changes) -> "Setting":
        return Setting(**{**asdict(self), **changes})

    def to_json(self) -> dict:
        out = asdict(self)
        out["cov"] = None if self.cov is None else [list(r) for r in self.cov]
        out["cov_w"] = None if self.cov_w is None else [list(r) for r in self.cov_w]
        out["extra"] = dict(self.extra)
        return out


def _check_more_fields(s: "Setting") -> None:
    """Validate and normalise test_n, prior_scale, x_dist, mean (issue 13's claims)."""
    if s.test_n is not None:
        if isinstance(s.test_n, bool) or not isinstance(s.test_n, (int, np.integer)):
            raise SettingError("test_n", f"must be an integer, got {s.test_n!r}")
        if s.test_n < 1:
            raise SettingError("test_n", f"must be >= 1, got {s.test_n}")
        object.__setattr__(s, "test_n", int(s.test_n))
    if s.prior_scale is not None:
        try:
            v = float(s.prior_scale)
        except (TypeError, ValueError):
            raise SettingError("prior_scale", f"must be a number, got {s.prior_scale!r}") from None
        if not math.isfinite(v) or v <= 0:
            raise SettingError("prior_scale", f"must be finite and > 0, got {s.prior_scale!r}")
        object.__setattr__(s, "prior_scale", v)
    uniform_half_width(s.x_dist)
    if s.mean is not None:
        try:
            b = np.asarray(s.mean, dtype=float)
        except (TypeError, ValueError):
            raise SettingError("mean", f"not a numeric vector: {s.mean!r}") from None
        if b.shape != (s.d,):
            raise SettingError("mean", f"has shape {b.shape}; expected a vector of length d={s.d}")
        if not np.all(np.isfinite(b)):
            raise SettingError("mean", "contains NaN or inf")
        object.__setattr__(s, "mean", tuple(float(v) for v in b))


def uniform_half_width(x_dist: str) -> Optional[float]:
    """``"gaussian"`` -> None; ``"uniform:a"`` -> a (> 0, finite); anything else raises."""
    if not isinstance(x_dist, str):
        raise SettingError("x_dist", f"must be a string, got {x_dist!r}")
    if x_dist == "gaussian":
        return None
    kind, _, arg = x_dist.partition(":")
    if kind != "uniform":
        raise SettingError("x_dist", f"expected 'gaussian' or 'uniform:a', got {x_dist!r}")
    try:
        a = float(arg)
    except ValueError:
        raise SettingError("x_dist", f"uniform:a needs a number a, got {arg!r}") from None
    if not math.isfinite(a) or a <= 0:
        raise SettingError("x_dist", f"uniform:a needs a finite a > 0, got {arg!r}")
    return a
