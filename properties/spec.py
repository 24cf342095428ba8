"""A claim's checks as data: one :class:`Spec` per claim (shared/DESIGN.md, "one claim, one spec").

A paper's module under ``properties/papers/`` declares, beside its ``theory/papers/`` module, for each
claim: the settings strategy (within the claim's assumptions), the exact checks (against a route that
shares no code with ``Claim.predict``), the Monte Carlo checks, each dropped-assumption refutation with
the formula it breaks, the trained-check hooks, and the heaviest-tailed corners where scripts/false_alarm.py
measures its Monte Carlo checks' single-replicate false-alarm rates. The drivers — ``tests/cover/test_specs.py``, the
report, the records, ``iclgd predict``/``train``/``verify`` — loop over :data:`SPECS` and never name a
claim id, so a new claim is two new files. Packages other than iclgd add specs through the entry-point
group ``iclgd.checks`` (an attribute holding a sequence of Specs, or a callable returning one); their
claims through ``iclgd.claims`` (:func:`iclgd.theory.claims.load_entry_points`).
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .checks import Check

Strategy = Callable[..., object]  # (max_d=None, max_n=None, mc=False) -> SearchStrategy[Setting]


@dataclass(frozen=True)
class Refutation:
    """A dropped assumption (or an over-generalisation): ``exact`` evaluates it on a Setting drawn by
    ``settings`` (outside the claim's assumption) and returns an *unrecorded* Check with
    ``expect="refute"`` whose tolerance is exceeded exactly when the Setting is a counterexample; the
    driver searches with Hypothesis, records the minimal counterexample and, when given, its
    independent ``confirm``\\ ation (``(setting, seed) -> Check``, recorded)."""

    name: str  # the over-generalised statement, e.g. "Γ_Z is the optimum with label noise too"
    breaks: str  # the assumption dropped and the formula it breaks
    settings: Callable[[], object]  # () -> SearchStrategy[Setting]
    exact: Callable[..., Check]  # (setting) -> Check (expect="refute", not recorded)
    confirm: Optional[Callable[..., Check]] = None  # (setting, seed) -> Check (expect="refute")
    claim: Optional[str] = None  # the id its records go under (default: the spec's claim)


@dataclass(frozen=True)
class TrainedHooks:
    """What the trained tier needs from a claim: the data law (``sample_general`` keywords: Sigma,
    Sigma_w, sigma2, x_uniform, mean) and the exact population loss of a Γ-predictor under it."""

    law: Callable[..., dict]  # (setting) -> sampler keywords
    exact_loss: Optional[Callable[..., float]] = None  # (setting, Γ) -> L(Γ), derived, no sampling
    gamma_class_only: bool = False  # the claim speaks of the Γ class only (an LSA may beat it)
    lsa_claim: Optional[str] = None  # gamma_class_only: the over-generalisation a trained LSA below L* is filed under
    benchmarks: tuple = ()  # (label, Setting), ...: where bench/time_to_target.py times learning Γ* to a target error


@dataclass(frozen=True)
class FalseAlarmCorner:
    """A heaviest-tailed setting of a claim's Monte Carlo checks (smallest d and n, σ² = 0 or the largest noise,
    the largest parameter its strategy draws), where scripts/false_alarm.py measures each check's
    single-replicate exceedance rate P_rep: the rate the replicate rule's bound P_rep^R assumes to be
    ≤ ``closed_form.P_REPLICATE_MAX``. ``checks`` (setting, seed) -> Checks, default the Spec's
    ``monte_carlo``: another hold check built from the claim's Monte Carlo engine (a test's)."""

    setting: object  # Setting
    checks: Optional[Callable[..., list]] = None
    label: str = ""  # what the corner stands for when ``checks`` is not the Spec's monte_carlo


@dataclass(frozen=True)
class Spec:
    """The checks of one registered claim (``claim`` is its id in :data:`iclgd.theory.REGISTRY`)."""

    claim: str
    settings: Strategy  # settings(max_d=None, max_n=None, mc=False): within the claim's assumptions
    exact: Optional[Callable[..., list]] = None  # (setting) -> recorded Checks vs an independent route
    monte_carlo: Optional[Callable[..., list]] = None  # (setting, seed) -> recorded Checks
    refutations: tuple = ()  # Refutation, ...
    trained: Optional[TrainedHooks] = None
    false_alarm: tuple = ()  # FalseAlarmCorner, ...: where the Monte Carlo checks' P_rep is measured
    power_settings: tuple = ()  # Setting, ...: where scripts/false_alarm.py --power finds the smallest refuted ε
    package: str = "iclgd"

    def __post_init__(self):
        if not isinstance(self.claim, str) or not self.claim:
            raise TypeError("claim: a Spec names the registered claim id it checks")
        if not callable(self.settings):
            raise TypeError(f"settings: {self.claim}'s Spec needs a strategy factory")
        for r in self.refutations:
            if not isinstance(r, Refutation):
                raise TypeError(f"refutations: {self.claim}'s Spec holds a {type(r).__name__}, not a Refutation")
        for c in self.false_alarm:
            if not isinstance(c, FalseAlarmCorner):
                raise TypeError(f"false_alarm: {self.claim}'s Spec holds a {type(c).__name__}, not a FalseAlarmCorner")
            if c.checks is None and self.monte_carlo is None:
                raise TypeError(f"false_alarm: {self.claim}'s Spec has corners but no monte_carlo to measure at them")


SPECS: dict[str, Spec] = {}
PLUGIN_ERRORS: list[str] = []  # one line per package whose specs were left out


def register_spec(spec: Spec) -> Spec:
    from iclgd.theory import REGISTRY

    if spec.claim not in REGISTRY:
        raise ValueError(f"claim: no registered claim {spec.claim!r} for this Spec")
    if spec.claim in SPECS:
        raise ValueError(f"claim: a Spec for {spec.claim!r} is already registered (by {SPECS[spec.claim].package})")
    SPECS[spec.claim] = spec
    return spec


def specs(where: str | None = None) -> list[Spec]:
    """The registered Specs that define ``where`` ("exact", "monte_carlo", "refutations", "trained")."""
    load()
    return [s for s in SPECS.values() if where is None or getattr(s, where)]


_LOADED = False


def load() -> dict[str, Spec]:
    """Import every ``properties/papers`` module (each registers its Specs) and the ``iclgd.checks``
    entry points of other packages; a package whose specs fail (import error, invalid Spec, a claim id
    already taken) is named in one warning line and left out."""
    global _LOADED
    if _LOADED:
        return SPECS
    _LOADED = True
    from . import papers

    for m in pkgutil.iter_modules(papers.__path__):
        importlib.import_module(f"{papers.__name__}.{m.name}")
    from iclgd.theory.claims import entry_points_of, warn_plugin

    for ep in entry_points_of("iclgd.checks"):
        pkg = ep.dist.name if ep.dist is not None else ep.value
        before = dict(SPECS)
        try:
            obj = ep.load()
            items = list(obj() if callable(obj) else obj)
            for s in items:
                if not isinstance(s, Spec):
                    raise TypeError(f"{ep.value} holds a {type(s).__name__}, not an iclgd Spec")
                register_spec(s if s.package != "iclgd" else _with_package(s, pkg))
        except Exception as e:  # a broken package never stops the others
            SPECS.clear()
            SPECS.update(before)
            PLUGIN_ERRORS.append(warn_plugin(pkg, "checks", e))
    return SPECS


def _with_package(s: Spec, pkg: str) -> Spec:
    from dataclasses import replace

    return replace(s, package=pkg)


def relative_tolerance(v, rtol: float = 1e-9) -> float:
    """``rtol`` × max(1, max |v|): a float64 evaluation against an exact value."""
    return rtol * max(1.0, float(np.abs(np.asarray(v, float)).max(initial=0.0)))


def monte_carlo_mean_check(claim: str, quantity: str, predicted: float, replicate, setting: dict, *,
                           floor: float = 1e-10, expect: str = "hold", replicates: int | None = None) -> Check:
    """A recorded Check of a predicted expectation against Monte Carlo under the suite's replicate rule
    (:mod:`iclgd.properties.closed_form`): ``replicate(j)`` → (mean, SE) from independent draws (seed
    offset j); the statistic is (|mean − predicted| − floor·max(1, |predicted|))⁺ / SE, compared with
    the per-replicate two-sided critical value 3.89, and the check fails only if every replicate exceeds
    it (false alarm ≤ P_rep^R with P_rep measured by scripts/false_alarm.py at the heaviest-tailed
    corners). ``floor`` absorbs float64 rounding of the predicted value."""
    from . import closed_form as cf
    from .checks import check

    R = cf.replicates() if replicates is None else replicates
    means = []

    def single(j):
        mean, se = replicate(j)
        means.append((mean, se))
        z = max(0.0, abs(mean - predicted) - floor * max(1.0, abs(predicted))) / max(se, 1e-300)
        return (z,), (mean, se)

    (z,), (mean, se), used = cf._replicated(single, (cf.LOSS_Z,), R)
    why = (f"(|mean − predicted| − {floor:.0e}·max(1, |predicted|))⁺ / SE ≤ {cf.LOSS_Z:.2f}, "
           + cf.replicate_rule(R))
    return check(claim, quantity, predicted, mean, cf.LOSS_Z, why, {**setting, "se": se, "replicates_run": used},
                 error=z, expect=expect)
