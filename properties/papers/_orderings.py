"""One-sided Monte Carlo ordering checks (Vlad-mixed-noise, Raventos-dMMSE, Panwar-GMM): a claim "risk A ≤
risk B" is refuted only when, in every one of the replicate rule's independent replicates, the paired
per-prompt difference A − B has mean > 3.72 standard errors (one-sided, :data:`closed_form.RIDGE_Z`); the
false-alarm rate of that statistic is measured by scripts/false_alarm.py."""
from __future__ import annotations

from iclgd.properties import closed_form as cf
from iclgd.properties.checks import check
from iclgd.properties.stats import mean_se


FLOOR = 1e-10  # float64 rounding of a difference of two squared errors, relative to their size


def paired(a, b) -> tuple[float, float, float]:
    """(mean, SE) of the per-prompt differences a − b of two (B,) tensors of squared errors, and their scale
    max(1, mean a, mean b) (the float64 floor of the statistic is relative to it)."""
    return (*mean_se(a - b), max(1.0, float(a.mean()), float(b.mean())))


def ordering_check(claim: str, quantity: str, replicate, setting: dict, *, expect: str = "hold"):
    """``replicate(j)`` → :func:`paired` of A, B on fresh prompts (seed offset j); statistic
    (mean − 1e-10·scale)⁺/SE ≤ 3.72 per replicate, under the replicate rule (a refutation's confirmation passes
    expect="refute")."""
    R = cf.replicates()

    def single(j):
        mean, se, scale = replicate(j)
        return (_z(mean, se, scale),), (mean, se)

    (z,), (mean, se), used = cf._replicated(single, (cf.RIDGE_Z,), R)
    why = f"one-sided: (mean of A − B − {FLOOR:.0e}·scale)⁺ / SE ≤ {cf.RIDGE_Z:.2f}, " + cf.replicate_rule(R)
    return check(claim, quantity, 0.0, mean, cf.RIDGE_Z, why, {**setting, "se": se, "replicates_run": used},
                 error=z, expect=expect)


def _z(mean: float, se: float, scale: float) -> float:
    excess = max(0.0, mean - FLOOR * scale)
    return excess / se if se > 0 else (0.0 if excess == 0 else float("inf"))
