"""Every registered claim Spec (``properties/papers`` and other packages' ``iclgd.checks`` entry points)
through the same drivers: exact checks, Monte Carlo checks, each refutation found and shrunk, a killed
mutation of the closed form, and the strategy's own assumptions. No claim id is named here: a new claim
is picked up by parametrisation."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iclgd.properties import spec as S
from iclgd.properties.checks import record, refutations
from iclgd.properties.profile import scale
from iclgd.properties.strategies import seeds
from iclgd.properties.verdicts import REFUTED_AS_EXPECTED
from iclgd.theory import get_claim
from tests.common import find_any, minimal

EXACT_EXAMPLES = max(4, scale().max_examples // 4)
MC_EXAMPLES = max(2, scale().max_examples // 10)
MUTATION_EPS = 0.02  # the closed form scaled by 1 + ε (ICLGD_PERTURB): the exact checks must refute it


def _params(where: str | None):
    return [pytest.param(sp, id=sp.claim, marks=pytest.mark.claim(sp.claim)) for sp in S.specs(where)]


def _refutation_params():
    return [pytest.param(sp, r, id=f"{sp.claim}: {r.name}", marks=pytest.mark.claim(r.claim or sp.claim))
            for sp in S.specs("refutations") for r in sp.refutations]


@pytest.mark.parametrize("sp", _params("exact"))
@settings(max_examples=EXACT_EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_exact_checks_hold(sp, data):
    """The claim's closed form against a route that shares no code with ``Claim.predict``."""
    s = data.draw(sp.settings(), label="setting")
    assert not refutations(sp.exact(s))


@pytest.mark.parametrize("sp", _params("monte_carlo"))
@settings(max_examples=MC_EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=seeds())
def test_monte_carlo_checks_hold(sp, data, seed):
    """The claim's prediction against Monte Carlo on prompts of its law, under the replicate rule."""
    s = data.draw(sp.settings(mc=True), label="setting")
    assert not refutations(sp.monte_carlo(s, seed))


@pytest.mark.parametrize(("sp", "r"), _refutation_params())
def test_refutation_is_found_and_confirmed(sp, r):
    """Hypothesis searches the settings outside the dropped assumption, shrinks the counterexample,
    and the minimal one is recorded (and confirmed by its independent route when the Spec gives one)."""
    s = minimal(r.settings(), lambda s: not r.exact(s).holds)
    c = record(r.exact(s))
    assert c.verdict == REFUTED_AS_EXPECTED, c.summary()
    if r.confirm is not None:
        m = record(r.confirm(s, 1))
        assert m.verdict == REFUTED_AS_EXPECTED, m.summary()


@pytest.mark.parametrize("sp", [pytest.param(sp, id=sp.claim) for sp in S.specs("exact")
                                if get_claim(sp.claim).predict_fn is not None])
def test_exact_checks_kill_a_mutated_closed_form(sp, monkeypatch):
    """Plumbing (no claim evidence): with the claim's Γ*, η, L* and named values scaled by 1 + ε, some
    drawn setting's exact checks refute it — the exact family has the power to see a 2 % error."""
    monkeypatch.setenv("ICLGD_PERTURB", f"{sp.claim}:{MUTATION_EPS}")
    find_any(sp.settings(), lambda s: bool(refutations(sp.exact(s))))


@pytest.mark.parametrize("sp", [pytest.param(sp, id=sp.claim) for sp in S.specs()])
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_strategies_stay_within_the_claims_assumptions(sp, data):
    """Every drawn setting (plain and Monte Carlo) passes the claim's validator."""
    mc = data.draw(st.booleans(), label="mc")
    get_claim(sp.claim).validate(data.draw(sp.settings(mc=mc), label="setting"))


@pytest.mark.parametrize("sp", [pytest.param(sp, id=sp.claim) for sp in S.specs("monte_carlo")
                                if sp.package == "iclgd"])
def test_monte_carlo_checks_declare_where_their_false_alarms_are_measured(sp):
    """Every Monte Carlo family of iclgd names its heaviest-tailed corners (scripts/false_alarm.py measures the
    single-replicate rate there), each inside the claim's assumptions unless it runs its own checks; likewise
    the settings where --power measures the smallest refuted perturbation."""
    assert sp.false_alarm, f"{sp.claim}: a Spec with monte_carlo declares false_alarm corners"
    for c in sp.false_alarm:
        if c.checks is None:
            get_claim(sp.claim).validate(c.setting)
        else:
            assert c.label, f"{sp.claim}: a corner with its own checks says what they are"
    for s in sp.power_settings:
        get_claim(sp.claim).validate(s)


def test_every_spec_names_a_registered_claim_and_one_spec_per_claim():
    from iclgd.theory import REGISTRY

    loaded = S.load()
    assert set(loaded) <= set(REGISTRY)
    assert all(k == v.claim for k, v in loaded.items())
