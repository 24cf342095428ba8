"""`Check`: a prediction beside a measurement, with a tolerance *and its reason*, and a verdict.

Every claim test builds Checks through :func:`check`; each one is ``note()``-d for Hypothesis and
logged for the harness (:mod:`iclgd.properties.harness`), which turns the checks behind each
recorded verdict into one counterexample record. A check's verdict (:mod:`iclgd.properties.verdicts`)
follows from ``expect`` and whether its error stayed within tolerance; theorem tests assert that no
check is ``refuted`` (:func:`refutations`), refutation tests that their counterexample was found.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np
from hypothesis import note
from hypothesis.control import current_build_context
from hypothesis.errors import InvalidArgument

from .verdicts import (EXPECT, FINDING, HELD, INCONCLUSIVE, NOT_REACHED, REFUTED,
                       REFUTED_AS_EXPECTED)


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


# ---- the recorder the harness reads ------------------------------------------------------------
_NO_HYPOTHESIS = object()


class OwnershipError(AssertionError):
    """A check logged under a claim its test does not declare (``@pytest.mark.claim``)."""


# verdicts that leave a counterexample record (one per claim, test and verdict)
RECORDED = (REFUTED, REFUTED_AS_EXPECTED, NOT_REACHED, FINDING)


def _size(c: Check) -> tuple:
    """Sort key of a check's example: smaller settings first (the 'minimal example' of a passing test)."""
    s = c.setting if isinstance(c.setting, dict) else {}
    return tuple(s.get(k) if isinstance(s.get(k), (int, float)) else 0 for k in ("d", "n", "shots")) + (
        len(str(s)), -c.ratio)


class Recorder:
    """Checks of one test, grouped by Hypothesis example (one build context each). The harness opens
    one per test (:func:`recording`) and reads it when the test ends; a test reaches its own through
    the ``recorder`` fixture. Outside a recording (the CLI, a script) checks are returned, not kept.

    ``owner``: the claim ids the running test declares; a check under any other id raises
    :class:`OwnershipError`. A test that declares none is plumbing: its checks are kept for its own
    assertions but are never claim evidence (``evidence`` is False)."""

    def __init__(self, owner: frozenset = frozenset()):
        self.reset(owner)

    def reset(self, owner: frozenset = frozenset()):
        self.owner = frozenset(owner)
        self.examples = 0
        self.last: list[Check] = []  # checks of the most recent example (the minimal one on failure)
        self.counts: dict[str, dict[str, int]] = {}  # claim -> verdict -> number of checks
        self.worst: dict[str, Check] = {}  # claim -> check with the largest error/tolerance among held ones
        self.flagged: dict[tuple, Check] = {}  # (claim, verdict) -> the check of the smallest example
        self.inconclusive: dict[str, Check] = {}  # claim -> its first inconclusive check (it says why)
        self.points: list[dict] = []  # compact record of every check, for the report's figures
        self._ctx = object()

    @property
    def evidence(self) -> bool:
        return bool(self.owner)

    def add(self, c: Check):
        if self.owner and c.claim not in self.owner:
            raise OwnershipError(f"check under claim {c.claim!r} in a test that declares "
                                 f"{', '.join(sorted(self.owner))} (@pytest.mark.claim)")
        try:
            ctx = current_build_context()
        except InvalidArgument:
            ctx = _NO_HYPOTHESIS  # a plain test is one example
        if ctx is not self._ctx:
            self._ctx = ctx
            self.examples += 1
            self.last = []
        self.last.append(c)
        v = c.verdict
        per = self.counts.setdefault(c.claim, {})
        per[v] = per.get(v, 0) + 1
        s = c.setting if isinstance(c.setting, dict) else {}
        if len(self.points) < 2000:
            self.points.append({"claim": c.claim, "quantity": c.quantity, "error": c.error,
                                "tolerance": c.tolerance, "verdict": v, "d": s.get("d"), "n": s.get("n"),
                                **({"cell": {k: s.get(k) for k in CELL_KEYS} | {"inconclusive": c.inconclusive}}
                                   if "outcome" in s and "dataset" in s else {})})
        if v in RECORDED:
            key = (c.claim, v)
            if key not in self.flagged or _size(c) < _size(self.flagged[key]):
                self.flagged[key] = c
        elif v == INCONCLUSIVE:
            self.inconclusive.setdefault(c.claim, c)
        elif v == HELD and c.expect != "witness":
            w = self.worst.get(c.claim)
            if w is None or c.ratio > w.ratio:
                self.worst[c.claim] = c

    @property
    def claims(self) -> set[str]:
        return set(self.counts)


# an empirical pattern check's cell (dataset, N, variant, metric, …), kept for the report's per-cell table
CELL_KEYS = ("model", "dataset", "shots", "seed", "variant", "metric", "outcome", "effect", "nulls")

_CURRENT: ContextVar[Optional[Recorder]] = ContextVar("iclgd_recorder", default=None)


@contextmanager
def recording(owner: frozenset = frozenset()):
    """Record the checks made inside the ``with`` block into a fresh :class:`Recorder` (yielded)."""
    rec = Recorder(owner)
    token = _CURRENT.set(rec)
    try:
        yield rec
    finally:
        _CURRENT.reset(token)


def current_recorder() -> Optional[Recorder]:
    return _CURRENT.get()


def _in_hypothesis() -> bool:
    try:
        current_build_context()
        return True
    except InvalidArgument:
        return False


def refutations(checks) -> list[str]:
    """Summaries of the checks in ``checks`` whose verdict is ``refuted`` — what a claim test asserts
    is empty (``not-reached``, ``inconclusive`` and findings are evidence too, but not failures)."""
    return [c.summary() for c in checks if c.verdict == REFUTED]


def record(c: Check) -> Check:
    """Add ``c`` to the active recorder (if any) and note it for Hypothesis."""
    rec = _CURRENT.get()
    if rec is not None:
        rec.add(c)
    if _in_hypothesis():
        note(c.summary())
    return c


def make_check(
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
    """Compare ``measured`` with ``predicted``: the Check, not recorded (a search's trials; a spec's
    refutation, which its driver records once minimal).

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
    return Check(claim, quantity, _jsonable(p), _jsonable(m), float(error), float(tolerance), reason,
                 _jsonable(setting or {}), expect, inconclusive)


def check(claim: str, quantity: str, predicted, measured, tolerance: float, reason: str,
          setting: Optional[dict] = None, **kw) -> Check:
    """:func:`make_check`, recorded for the harness (the running test's evidence)."""
    return record(make_check(claim, quantity, predicted, measured, tolerance, reason, setting, **kw))
