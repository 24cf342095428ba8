"""Power and false alarms of the M family's checks (quality meta-tests): the exact optimality checks refute
every mutated closed form (Γ*, η, L* scaled by 1 ± 2 %, 1e-6 for M3, η with n and d swapped), M3's
quadrature route catches a wrong moment constant, and the false-alarm script behind the Monte Carlo
tolerances runs and bounds binomially. Plumbing: no claim marker (a deliberately broken claim is not
evidence)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iclgd.properties import closed_form as cf
from iclgd.properties.profile import scale
from iclgd.properties.strategies import settings_for, targets
from iclgd.theory import Setting


# ---- independence of M3's exact check, and power against wrong closed forms (plumbing) -----------
@given(d=st.integers(1, 4), data=st.data())
def test_m3_quadrature_route_catches_a_wrong_moment_constant(d, data):
    """A 1 % error in the prediction's moment code (P scaled, as a wrong a₁ would) is refuted: the
    moments disagree with the x-conditioned quadrature, and (where the prediction uses that code: all
    but tanh, whose η comes from its own quadrature) the gradient evaluated through the quadrature
    is not 0."""
    from iclgd.theory import nonlinear

    s = Setting(d, data.draw(st.integers(1, 12), label="n"), data.draw(st.sampled_from([0.0, 0.5]), label="σ²"),
                target=data.draw(targets(d, True), label="target"))
    honest = nonlinear.moments
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nonlinear, "moments", lambda t, dd: (1.01 * honest(t, dd)[0], *honest(t, dd)[1:]))
        nonlinear._m3_exact.cache_clear()
        try:
            checks = cf.optimality_checks("M3", s, np.eye(d) * 0.1)
        finally:
            nonlinear._m3_exact.cache_clear()
    assert not checks[0].holds and (s.target == "tanh" or not checks[1].holds), [c.summary() for c in checks[:2]]


def _swap_n_d(mp):
    """Mutation: η with n and d swapped (M1/M2's n/(n+d+1+σ²), M3's nμ/((n−1)μ+ν+dσ²))."""
    from iclgd.theory import lsa, nonlinear

    e1, e3 = lsa.eta_m1, nonlinear.eta_m3
    mp.setattr(lsa, "eta_m1", lambda n, d, s2: e1(d, n, s2))
    mp.setattr(nonlinear, "eta_m3", lambda n, d, s2, mu, nu: e3(d, n, s2, mu, nu))


MUTATIONS = [("M1", 0.02), ("M2", 0.02), ("M2g", 0.02), ("M3", 0.02), ("M1", -0.02), ("M3", 1e-6),
             ("M1", "swap"), ("M2", "swap"), ("M3", "swap")]


@pytest.mark.parametrize("claim,mutation", MUTATIONS)
@settings(max_examples=max(5, scale().max_examples // 5))
@given(data=st.data())
def test_exact_checks_refute_every_mutated_closed_form(claim, mutation, data):
    """Power (README, "Power"): the exact optimality checks refute Γ*, η, L* scaled by 1 ± 2 % (and
    1e-6 for M3, whose tolerance carries the quadrature error) and η with n and d swapped, at every
    drawn setting (d ≠ n for the swap; at d = n it is the identity)."""
    s = data.draw(settings_for(claim).filter(lambda s: mutation != "swap" or s.d != s.n), label="setting")
    from iclgd.theory import nonlinear

    with pytest.MonkeyPatch.context() as mp:
        if mutation == "swap":
            _swap_n_d(mp)
        else:
            mp.setenv("ICLGD_PERTURB", f"{claim}:{mutation}")
        nonlinear._m3_exact.cache_clear()
        try:
            checks = cf.optimality_checks(claim, s, np.eye(s.d) * 0.1)
        finally:
            nonlinear._m3_exact.cache_clear()
    assert not all(c.holds for c in checks), [c.summary() for c in checks]


def _false_alarm_script():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "false_alarm.py"
    spec = importlib.util.spec_from_file_location("false_alarm", path)
    fa = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fa)
    return fa


def _run_json(fa, argv):
    import json
    from contextlib import redirect_stdout
    from io import StringIO

    out = StringIO()
    with redirect_stdout(out):
        code = fa.main(argv + ["--json"])
    return code, json.loads(out.getvalue())


def test_false_alarm_script_runs_and_bounds_binomially():
    """scripts/false_alarm.py (the measurement behind the Monte Carlo tolerances) runs M1's first corner (the
    Spec's monte_carlo at one replicate: relaxation Γ and nuisance, loss, ridge bound) with 2 seeds and records
    nothing; its Clopper–Pearson bound is exact at x = 0: 1 − 0.05^{1/R}."""
    from iclgd.properties.checks import current_recorder

    fa = _false_alarm_script()
    assert abs(fa.cp_upper(0, 600) - (1 - 0.05 ** (1 / 600))) < 1e-9
    before = current_recorder()
    _, res = _run_json(fa, ["--reps", "2", "--claims", "M1", "--corners", "0"])
    assert len(res["rows"]) == 4 and {r["reps"] for r in res["rows"]} == {2}, res["rows"]
    assert {r["critical"] for r in res["rows"]} == {cf.relaxation_z_crit(1), cf.LOSS_Z, cf.RIDGE_Z}
    assert res["summary"]["replicates_per_check"] == cf.REPLICATES
    assert current_recorder() is before


def test_false_alarm_script_counts_exceedances_of_a_wrong_claim(monkeypatch):
    """Power of the measurement itself: with M1's closed form scaled by 1.5 the single-replicate statistics
    exceed their critical values (a script that never counted an exceedance would report 0 for any claim)."""
    fa = _false_alarm_script()
    monkeypatch.setenv("ICLGD_PERTURB", "M1:0.5")
    code, res = _run_json(fa, ["--reps", "2", "--claims", "M1", "--corners", "1"])
    assert code == 1 and max(r["exceed"] for r in res["rows"]) == 2, res["rows"]