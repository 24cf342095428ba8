"""The suite's statistics, in one place: quantiles (normal, Student t), the bootstrap, and the
false-alarm budget that every check family draws its level from.

Budget: a whole default ``iclgd verify`` may raise a false ``refuted`` with probability at most
``RUN_ALPHA`` (1e-3). Each check family gets a share (:data:`FAMILY_ALPHA`) and divides it by the
number of checks it can run in one profile (a union bound: correlated checks only make it tighter).
"""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from iclgd.theory import SettingError

RUN_ALPHA = 1e-3  # whole-run false-alarm budget of a default `iclgd verify`
# Shares of RUN_ALPHA per check family (they sum to RUN_ALPHA); each is split over that family's
# checks per run by :func:`per_check_alpha`.
FAMILY_ALPHA = {
    "monte-carlo": 4e-4,  # relaxation / Monte Carlo regressions of the closed forms
    "trained": 4e-4,  # trained-model noise floors
    "llm": 1e-4,  # bootstrap intervals of the LLM tier (findings only: they never make a run exit 1)
    "exact": 1e-4,  # float-rounding bounds (deterministic bounds: never spent in practice)
}
# Upper bounds on checks per family per run of the largest profile (nightly), used by the union
# bound: counted in notes/sound-verdicts.md from examples × checks per example × tests. Monte Carlo,
# counted in notes/false-alarm-rates.md: ≈ 210 per dev/ci run, ≈ 2 500 per nightly run (closed forms
# 149 / 1 713, issue-13 claims ≤ 60 / ≤ 800), so 20 000 leaves 8× headroom.
MAX_CHECKS = {"monte-carlo": 20_000, "trained": 2_000, "llm": 2_000, "exact": 100_000}


def mean_se(t) -> tuple[float, float]:
    """(mean, standard error) of a 1-D sample (a tensor or array of per-prompt values; SE with the n − 1 std)."""
    if t.ndim != 1 or len(t) < 2:
        raise ValueError(f"mean_se: expected a 1-D sample of at least 2 values, got shape {tuple(t.shape)}")
    sd = t.std() if hasattr(t, "numel") else t.std(ddof=1)  # torch's std is n − 1 already
    return float(t.mean()), float(sd) / math.sqrt(len(t))


def per_check_alpha(family: str) -> float:
    """Two-sided level of one check of ``family`` so the run stays within RUN_ALPHA."""
    return FAMILY_ALPHA[family] / MAX_CHECKS[family]


def z_crit(k: int = 1, alpha: float = 1e-6) -> float:
    """Two-sided normal critical value with a Bonferroni union bound over k coefficients."""
    return NormalDist().inv_cdf(1 - alpha / (2 * k))


# ---- Student t quantile (no scipy) ------------------------------------------------------------
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta (Lentz; Numerical Recipes §6.4)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + num * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    if x <= 0 or x >= 1:
        return float(x >= 1)
    lb = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(lb) * _betacf(a, b, x) / a
    return 1 - math.exp(lb) * _betacf(b, a, 1 - x) / b


def t_quantile(p: float, dof: int) -> float:
    """q with P(|T| ≤ q) = p for Student's T with ``dof`` degrees of freedom (bisection on the CDF)."""
    if dof < 1:
        raise ValueError(f"dof: must be >= 1, got {dof}")

    def two_sided_tail(q):  # P(|T| > q) = I_{ν/(ν+q²)}(ν/2, 1/2)
        return _betainc(dof / 2, 0.5, dof / (dof + q * q))

    lo, hi = 0.0, 1.0
    while two_sided_tail(hi) > 1 - p:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if two_sided_tail(mid) > 1 - p else (lo, mid)
    return hi


# ---- bootstrap ------------------------------------------------------------------------------
def bootstrap_interval(values, *, n_boot: int = 1000, seed: int = 0, level: float = 0.99,
                       sided: str = "two") -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampled along axis 0).

    ``sided="two"``: the central ``level`` interval; ``"lower"``: (the 1 − level quantile, ∞).
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size < 1:
        raise SettingError("values", f"expected a non-empty 1-D array, got shape {v.shape}")
    if not (0 < level < 1):
        raise SettingError("level", f"must be in (0, 1), got {level}")
    if n_boot < 1:
        raise SettingError("n_boot", f"must be >= 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)  # (n_boot,)
    if sided == "two":
        lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
        return float(lo), float(hi)
    if sided == "lower":
        return float(np.quantile(means, 1 - level)), math.inf
    raise SettingError("sided", f"must be 'two' or 'lower', got {sided!r}")


