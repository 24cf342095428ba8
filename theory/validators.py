"""Setting readers and validators the paper modules share (theory/papers): each raises
:class:`~iclgd.theory.errors.SettingError` naming the Setting field, with the claim's id in the message."""
from __future__ import annotations

from dataclasses import fields

import numpy as np

from .errors import SettingError
from .lsa import EXACT_D_MAX
from .setting import Setting

_DEFAULTS = {f.name: f.default for f in fields(Setting)}
_WHAT = {"sigma2": "σ²", "cov": "Σ", "cov_w": "Σ_w", "target": "a target", "test_n": "a test length",
         "prior_scale": "a prior scale", "x_dist": "a non-Gaussian x", "mean": "a prior mean", "extra": "extras"}


def only(s: Setting, claim: str, allowed: set, why: dict | None = None) -> None:
    """Reject every Setting field that differs from its default and the claim does not use."""
    for name, default in _DEFAULTS.items():
        if name in ("d", "n") or name in allowed:
            continue
        if getattr(s, name) != default:
            raise SettingError(name, (why or {}).get(name) or f"{claim} takes no {_WHAT.get(name, name)}")


def noiseless(s: Setting, claim: str) -> None:
    if s.sigma2 != 0:
        raise SettingError("sigma2", f"{claim} assumes noiseless labels (σ² = 0), got {s.sigma2}")


def length_at_test(s: Setting) -> int:
    """M: ``test_n``, or the training length n when not given."""
    return s.n if s.test_n is None else s.test_n


def prior_psi2(s: Setting, claim: str) -> float:
    """ψ² of w ~ N(0, ψ² I): ``prior_scale``, or a ``cov_w`` that is a multiple of I, or 1."""
    if s.prior_scale is not None:
        if s.cov_w is not None:
            raise SettingError("prior_scale", "give either --prior-scale or --cov-w, not both")
        return s.prior_scale
    if s.cov_w is None:
        return 1.0
    c = float(s.Sigma_w[0, 0])
    if not np.array_equal(s.Sigma_w, c * np.eye(s.d)):
        raise SettingError("cov_w", f"{claim} assumes w ~ N(0, ψ² I): Σ_w must be a multiple of I")
    return c


def exact_ok(s: Setting) -> bool:
    """Exact SymPy values are produced up to EXACT_D_MAX."""
    return s.d <= EXACT_D_MAX


def mat_str(G) -> list:
    """A SymPy matrix as nested lists of strings (``Prediction.exact``)."""
    return [[str(v) for v in G.row(i)] for i in range(G.shape[0])]
