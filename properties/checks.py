"""`Check`: a prediction beside a measurement, with a tolerance *and its reason*, and a verdict.

Every claim test builds Checks through :func:`check`; each one is ``note()``-d for Hypothesis and
logged for the harness (:mod:`iclgd.properties.harness`), which turns the checks of a failing test's
minimal example into a counterexample record. Tests assert on ``Check.holds``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np
from hypothesis import note
from hypothesis.control import current_build_context
from hypothesis.errors import InvalidArgument

from .verdicts import EXPECT, INCONCLUSIVE


@dataclass(frozen=True)
class Check:
    claim: str  # registered claim id this check speaks for
    quantity: str  # what is compared: "gamma", "loss", "nuisance", "order_sensitivity", ...
    predicted: Any  # float or nested list (JSON-able)
    measured: Any
    error: float  # the statistic compared with the tolerance
    tolerance: float
    reason: str  # how the tolerance was derived (sampling error, float eps, training noise)
    setting: dict = field(default_factory=dict)  # JSON-able inputs, seeds included
    expect: str = "hold"  # what the check shows: a key of verdicts.EXPECT (hold/refute/reach/pattern/witness)
    inconclusive: str = ""  # non-empty: the check lacked power; says what effect it could have detected

    def __post_init__(self):
        if self.expect not in EXPECT:
            raise ValueError(f"expect: {self.expect!r} is not one of {', '.join(EXPECT)}")

    @property
    def holds(self) -> bool:
        return bool(self.error <= self.tolerance)

    @property
    def ratio(self) -> float:
        """error / tolerance (∞ for a zero tolerance that was exceeded)."""
        if self.tolerance > 0:
            return float(self.error / self.tolerance)
        return 0.0 if self.error == 0 else math.inf

    @property
    def verdict(self) -> str:
        """One word of :mod:`iclgd.properties.verdicts`."""
        if self.inconclusive:
            return INCONCLUSIVE
        within, beyond = EXPECT[self.expect]
        return within if self.holds else beyond

    def summary(self) -> str:
        return (
            f"[{self.claim}] {self.quantity}: error {self.error:.4g} vs tolerance {self.tolerance:.4g} "
            f"({self.reason}) -> {self.verdict}"
        )

    def to_json(self) -> dict:
        out = asdict(self)
        out.update(holds=self.holds, verdict=self.verdict)
        return _jsonable(out)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        return x.item()
    if hasattr(x, "tolist") and hasattr(x, "dtype"):  # torch tensors, without importing torch
        return _jsonable(x.detach().cpu().tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x


# ---- the log the harness reads ---------------------------------------------------------------
_NO_HYPOTHESIS = object()


class _Log:
    """Checks of the current test, grouped by Hypothesis example (one build context each)."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.examples = 0
        self.last: list[Check] = []  # checks of the most recent example (the minimal one on failure)
        self.worst: Optional[Check] = None  # largest error/tolerance seen in the whole test
        self.claims: set[str] = set()
        self.refuted: list[Check] = []
        self.findings: list[Check] = []  # failing hold-checks: in a *passing* test, findings it reports
        self.points: list[dict] = []  # compact record of every check, for the report's figures
        self._ctx = object()

    def add(self, c: Check):
        try:
            ctx = current_build_context()
        except InvalidArgument:
            ctx = _NO_HYPOTHESIS  # a plain test is one example
        if ctx is not self._ctx:
            self._ctx = ctx
            self.examples += 1
            self.last = []
        self.last.append(c)
        self.claims.add(c.claim)
        s = c.setting if isinstance(c.setting, dict) else {}
        self.points.append({"claim": c.claim, "quantity": c.quantity, "error": c.error, "tolerance": c.tolerance,
                            "expect": c.expect, "d": s.get("d"), "n": s.get("n")})
        if c.expect == "refute" and not c.holds:
            self.refuted.append(c)
        elif c.expect == "hold" and not c.holds and len(self.findings) < 20:
            self.findings.append(c)
        elif c.expect == "hold" and (self.worst is None or c.ratio > self.worst.ratio):
            self.worst = c


LOG = _Log()


def _in_hypothesis() -> bool:
    try:
        current_build_context()
        return True
    except InvalidArgument:
        return False


def record(c: Check) -> Check:
    LOG.add(c)
    if _in_hypothesis():
        note(c.summary())
    return c


def check(
    claim: str,
    quantity: str,
    predicted,
    measured,
    tolerance: float,
    reason: str,
    setting: Optional[dict] = None,
    *,
    relative: bool = False,
    error: Optional[float] = None,
    expect: str = "hold",
    inconclusive: str = "",
) -> Check:
    """Compare ``measured`` with ``predicted`` and log the Check.

    The error is ``error`` if given, else the largest absolute entrywise difference, or with
    ``relative=True`` the relative Frobenius error ‖m − p‖ / ‖p‖.
    """
    p = np.asarray(predicted, dtype=float)
    m = np.asarray(measured, dtype=float)
    if error is None:
        if p.shape != m.shape:
            raise ValueError(f"measured: shape {m.shape} differs from predicted {p.shape}")
        diff = m - p
        error = float(np.linalg.norm(diff) / np.linalg.norm(p)) if relative else float(np.abs(diff).max())
    if not math.isfinite(error):
        error = math.inf
    return record(
        Check(claim, quantity, _jsonable(p), _jsonable(m), float(error), float(tolerance), reason,
              _jsonable(setting or {}), expect, inconclusive)
    )
