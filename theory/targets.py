"""Target families for M3: parse and validate a spec string.

- ``linear``: f(x) = wᵀx, w ~ N(0, I).
- ``relu``: f(x) = ReLU(wᵀx), w ~ N(0, I).
- ``relu-sum:m``: f(x) = m^{-1/2} Σ_k ReLU(w_kᵀx), w_k ~ N(0, I) i.i.d.
- ``tanh``: f(x) = tanh(wᵀx), w ~ N(0, I) — no closed form; μ, ν by quadrature with a stated error.
- ``relu-aniso:s_1,…,s_d``: f(x) = ReLU(wᵀ D x), D = diag(s), w ~ N(0, I) — *not* rotation
  invariant unless all s_j are equal (``relu-aniso:1,0,…`` is a fixed axis-aligned feature).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import SettingError


@dataclass(frozen=True)
class Target:
    kind: str  # linear | relu | tanh | relu-sum | relu-aniso
    m: int = 1  # number of ReLU units (relu-sum)
    scales: tuple = ()  # diagonal of D (relu-aniso)

    @property
    def rotation_invariant(self) -> bool:
        return self.kind != "relu-aniso" or len(set(self.scales)) <= 1

    def spec(self) -> str:
        if self.kind == "relu-sum":
            return f"relu-sum:{self.m}"
        if self.kind == "relu-aniso":
            return "relu-aniso:" + ",".join(repr(float(s)) for s in self.scales)
        return self.kind


def parse_target(spec: str, d: int | None = None) -> Target:
    if not isinstance(spec, str):
        raise SettingError("target", f"must be a string, got {spec!r}")
    kind, _, arg = spec.partition(":")
    if kind in ("linear", "relu", "tanh") and not arg:
        return Target(kind)
    if kind == "relu-sum":
        if not arg.isdigit() or int(arg) < 1:
            raise SettingError("target", f"relu-sum:m needs an integer m >= 1, got {arg!r}")
        return Target(kind, m=int(arg))
    if kind == "relu-aniso":
        try:
            scales = tuple(float(v) for v in arg.split(","))
        except ValueError:
            raise SettingError("target", f"relu-aniso needs comma-separated scales, got {arg!r}") from None
        if not all(math.isfinite(s) and s >= 0 for s in scales) or not any(scales):
            raise SettingError("target", "relu-aniso scales must be finite, >= 0 and not all 0")
        if d is not None and len(scales) != d:
            raise SettingError("target", f"relu-aniso has {len(scales)} scales but d={d}")
        return Target(kind, scales=scales)
    raise SettingError(
        "target", f"unknown target {spec!r}; use linear, relu, tanh, relu-sum:m or relu-aniso:s1,...,sd"
    )
