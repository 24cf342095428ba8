"""Helpers shared by the test folders (after Hypothesis's own ``tests/common``): ``minimal`` finds and
shrinks the smallest example satisfying a condition, ``find_any`` the first one (no shrinking). Both are
derandomized with no database, so a search and its result are the same in every profile."""
from __future__ import annotations

from hypothesis import HealthCheck, Phase, find, settings

SEARCH = settings(max_examples=300, database=None, derandomize=True, suppress_health_check=list(HealthCheck))


def minimal(strategy, condition=lambda x: True, *, max_examples: int = 300):
    """The shrunk minimal example of ``strategy`` satisfying ``condition`` (a counterexample to cite)."""
    return find(strategy, condition, settings=settings(SEARCH, max_examples=max_examples))


def find_any(strategy, condition=lambda x: True, *, max_examples: int = 300):
    """The first example of ``strategy`` satisfying ``condition`` (existence only: no shrinking)."""
    return find(strategy, condition, settings=settings(SEARCH, max_examples=max_examples,
                                                        phases=[Phase.explicit, Phase.generate]))
