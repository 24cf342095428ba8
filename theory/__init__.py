"""Symbolic theory of one-layer linear self-attention ICL (SymPy + NumPy; never imports torch).

Claims register themselves in :mod:`iclgd.theory.claims`; importing this package loads them all.
"""
from .errors import SettingError
from .setting import Setting
from .claims import Claim, Param, Part, Prediction, REGISTRY, get_claim, register

import importlib as _importlib
import pkgutil as _pkgutil

from . import papers as _papers  # noqa: E402  one module per paper: every claim is registered there

# the two seed papers first (the registry's order is the report's and `iclgd claims`'), then the rest by name
_FIRST = ("mahankali", "shen")
for _m in sorted(_pkgutil.iter_modules(_papers.__path__), key=lambda m: (m.name not in _FIRST, _FIRST.index(m.name)
                                                                          if m.name in _FIRST else 0, m.name)):
    _importlib.import_module(f"{_papers.__name__}.{_m.name}")
claims.load_entry_points()  # other packages' claims (entry-point group iclgd.claims)

__all__ = ["Claim", "Param", "Part", "Prediction", "REGISTRY", "Setting", "SettingError", "get_claim", "register"]
