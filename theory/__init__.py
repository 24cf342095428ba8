"""Symbolic theory of one-layer linear self-attention ICL (SymPy + NumPy; never imports torch).

Claims register themselves in :mod:`iclgd.theory.claims`; importing this package loads them all.
"""
from .errors import SettingError
from .setting import Setting
from .claims import Claim, Prediction, REGISTRY, get_claim, register

from . import lsa as _lsa  # noqa: F401  (registers M1, M2, M2g)
from . import nonlinear as _nonlinear  # noqa: F401  (registers M3)

__all__ = ["Claim", "Prediction", "REGISTRY", "Setting", "SettingError", "get_claim", "register"]
