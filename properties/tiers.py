"""The suite's tiers: the pytest marker that puts a test in each ``iclgd verify --tiers`` tier, first match
wins, no marker: theory. Imports nothing, so the CLI builds its marker expressions from it at start-up."""
from __future__ import annotations

TIER_MARKERS = (("tooling", "tooling"), ("gpu", "gpu"), ("llm", "llm"), ("slow", "trained"))
TIERS = ("theory",) + tuple(t for _, t in reversed(TIER_MARKERS))  # theory, trained, llm, gpu, tooling


def tier_of(markers) -> str:
    """The tier of a test with these marker names."""
    return next((tier for m, tier in TIER_MARKERS if m in markers), "theory")


def marker_expression(tier: str) -> str:
    """The pytest ``-m`` expression selecting exactly the tests :func:`tier_of` puts in ``tier``."""
    names = [m for m, _ in TIER_MARKERS]
    own = next((i for i, (_, t) in enumerate(TIER_MARKERS) if t == tier), len(names))
    exclude = " and ".join(f"not {m}" for m in names[:own])
    if own == len(names):
        return exclude
    return " and ".join([names[own]] + ([exclude] if exclude else []))
