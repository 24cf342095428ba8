"""Symbolic theory of one-layer linear self-attention ICL (SymPy + NumPy; never imports torch).

Claims register themselves in :mod:`iclgd.theory.claims`; importing this package loads them all.
"""
from .errors import SettingError
from .setting import Setting
from .claims import Claim, Param, Part, Prediction, REGISTRY, get_claim, register

import importlib as _importlib
import pkgutil as _pkgutil

# Modules that register claims: M1/M2/M2g (lsa), M3 (nonlinear), S1 (order), Shen et al.'s
# empirical pattern (shen), claims about trained models beyond the papers (peers); the other papers' claims
# are in theory/papers.
for _name in ("lsa", "nonlinear", "order", "shen", "peers"):
    try:
        _importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _e:  # a claim module not written yet
        if _e.name != f"{__name__}.{_name}":
            raise
from . import papers as _papers  # noqa: E402  one module per paper (theory/papers)

for _m in _pkgutil.iter_modules(_papers.__path__):
    _importlib.import_module(f"{_papers.__name__}.{_m.name}")
claims.load_entry_points()  # other packages' claims (entry-point group iclgd.claims)

__all__ = ["Claim", "Param", "Part", "Prediction", "REGISTRY", "Setting", "SettingError", "get_claim", "register"]
