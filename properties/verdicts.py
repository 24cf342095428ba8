"""The one verdict vocabulary: checks, records, the report, ``--json`` and the exit code all use it.

A check's verdict follows from what it was written to show (``Check.expect``) and whether its
statistic stayed within tolerance; a claim's row from its checks and the claim's ``kind``
(:class:`iclgd.theory.claims.Claim`).
"""
from __future__ import annotations

HELD = "held"
REFUTED = "refuted"
REFUTED_AS_EXPECTED = "refuted-as-expected"
NOT_REACHED = "not-reached"
FINDING = "finding"
INCONCLUSIVE = "inconclusive"
SKIPPED = "skipped"
CHECKED_IDENTITY = "checked-identity"
# a model checked from outside the suite (`iclgd check`, the pytest plugin's `check_model` fixture)
REACHED = "reached"
BETTER_THAN_CLASS = "better-than-class"
BELOW_BAYES = "below-Bayes"

DEFINITIONS = {
    HELD: "every check of the claim stayed within its tolerance",
    REFUTED: "a counterexample to the claim as stated, within its assumptions",
    REFUTED_AS_EXPECTED: "an over-generalisation we register to show the suite finds it, and it did",
    NOT_REACHED: "a trained model did not reach the global optimum: evidence about training, filed under a "
    "reachability claim (M1-trained), never under the theorem",
    FINDING: "an empirical pattern from a paper, tested on a real pretrained model, did not reproduce "
    "(with effect size and interval)",
    INCONCLUSIVE: "the check lacked the power to decide; it states what effect it could have detected",
    SKIPPED: "no test of the claim ran (tier not selected, or no model/device)",
    CHECKED_IDENTITY: "the claim is an identity, a logical implication or a construction of the suite's own: its "
    "checks test the suite's arithmetic and code and cannot fail by construction, so they are no evidence for the "
    "paper (a failure would be a bug of the suite, reported as refuted)",
    REACHED: "a checked model's risk is within the margin of the claim's optimum L* (its paired gap's interval "
    "lies below the margin)",
    BETTER_THAN_CLASS: "a checked model outside the claim's model class beats the class optimum L* beyond noise: "
    "it is better than any model of the class can be, which refutes nothing",
    BELOW_BAYES: "a checked model's risk is below the Bayes risk of the data law beyond noise: no predictor can do "
    "that, so the evaluation is wrong or the model sees the answer (leakage); never evidence about the claim",
}

# Check.expect -> (verdict when within tolerance, verdict when not)
EXPECT = {
    "hold": (HELD, REFUTED),  # a theorem's prediction vs a measurement
    "refute": (HELD, REFUTED_AS_EXPECTED),  # seeks a counterexample to an over-generalisation
    "reach": (HELD, NOT_REACHED),  # a trained model vs a global optimum (reachability, not the theorem)
    "pattern": (HELD, FINDING),  # an empirical pattern on a real pretrained model
    # a consequence shown by a witness (e.g. S1's order dependence): error > tolerance *is* the witness
    "witness": (INCONCLUSIVE, HELD),
    "class": (HELD, BETTER_THAN_CLASS),  # a model outside the claim's class vs the class optimum
    "bayes": (HELD, BELOW_BAYES),  # any model vs the Bayes risk of the law (below it: an evaluation error)
}

# claim kinds (Claim.kind) -> row verdicts that count as "as expected" for the exit code
KINDS = ("theorem", "overgeneralisation", "empirical", "identity")
SEVERITY = (REFUTED, BELOW_BAYES, NOT_REACHED, FINDING, REFUTED_AS_EXPECTED, INCONCLUSIVE, HELD, CHECKED_IDENTITY, SKIPPED)


def row_verdict(kind: str, verdicts: list[str]) -> str:
    """A claim's row from its checks' verdicts (tests that ran). Worst first: ``refuted`` beats
    everything; a theorem with held and inconclusive checks is ``held`` (the row counts both: an
    inconclusive example is a drawn setting without power, the others decided). An empirical pattern
    is stated for every cell (S2: every dataset, N, variant and metric), so one undecided cell makes
    its row ``inconclusive``, as :func:`iclgd.properties.llm.aggregate_s2` aggregates it. An identity
    (an implication, or the suite's own construction) reads ``checked-identity``, never ``held``."""
    if not verdicts:
        return SKIPPED
    present = set(verdicts)
    if kind == "identity":  # cannot fail by construction: never "held"; a failure is the suite's bug
        return REFUTED if REFUTED in present else CHECKED_IDENTITY if HELD in present else INCONCLUSIVE
    if kind == "overgeneralisation":
        for v in (REFUTED_AS_EXPECTED, NOT_REACHED):
            if v in present:
                return v
        return HELD if HELD in present else INCONCLUSIVE
    for v in (REFUTED, BELOW_BAYES, NOT_REACHED, FINDING):
        if v in present:
            return v
    if kind == "empirical" and INCONCLUSIVE in present:
        return INCONCLUSIVE
    return HELD if HELD in present else INCONCLUSIVE


def exit_code(rows: list[dict], strict: bool = False) -> int:
    """0 when no claim was refuted and every expected refutation was found; 1 otherwise. ``strict``
    also fails on finding / inconclusive / not-reached. ``rows``: dicts with ``kind`` and ``status``."""
    for r in rows:
        s, kind = r["status"], r.get("kind", "theorem")
        if s in (REFUTED, BELOW_BAYES):  # below-Bayes: the evaluation itself is wrong
            return 1
        if kind == "overgeneralisation" and s not in (REFUTED_AS_EXPECTED, NOT_REACHED, SKIPPED):
            return 1
        if strict and s in (FINDING, INCONCLUSIVE, NOT_REACHED) and kind != "overgeneralisation":
            return 1
    return 0
