"""One-sided Monte Carlo ordering checks (Vlad-mixed-noise, Raventos-dMMSE, Panwar-GMM): a claim "risk A ≤
risk B" is refuted only when, in every one of the replicate rule's independent replicates, the paired
per-prompt difference A − B has mean > 3.72 standard errors (one-sided, :data:`closed_form.RIDGE_Z`); the
false-alarm rate of that statistic is measured by scripts/false_alarm_shift_noise_prior.py."""
from __future__ import annotations

from iclgd.properties import closed_form as cf
from iclgd.properties.checks import check


def paired(diff) -> tuple[float, float]:
    """(mean, SE) of a (B,) tensor of per-prompt differences."""
    return float(diff.mean()), float(diff.std() / diff.numel() ** 0.5)


def ordering_check(claim: str, quantity: str, replicate, setting: dict, *, expect: str = "hold"):
    """``replicate(j)`` → (mean, SE) of A − B on fresh prompts (seed offset j); statistic (mean)⁺/SE ≤ 3.72 per
    replicate, under the replicate rule (a refutation's confirmation passes expect="refute")."""
    R = cf.REPLICATES

    def single(j):
        mean, se = replicate(j)
        return (max(0.0, mean) / max(se, 1e-300),), (mean, se)

    (z,), (mean, se), used = cf._replicated(single, (cf.RIDGE_Z,), R)
    why = f"one-sided: (mean of A − B)⁺ / SE ≤ {cf.RIDGE_Z:.2f}, " + cf.replicate_rule(R)
    return check(claim, quantity, 0.0, mean, cf.RIDGE_Z, why, {**setting, "se": se, "replicates_run": used},
                 error=z, expect=expect)


def single_z(replicate) -> float:
    """The single-replicate statistic of :func:`ordering_check` (for the false-alarm script)."""
    mean, se = replicate(0)
    return max(0.0, mean) / max(se, 1e-300)
