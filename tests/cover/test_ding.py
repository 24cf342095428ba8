"""Ding-causal beyond the spec drivers: the stack's limit does not depend on the step, the two
normalisations differ only for the causal mask, and `iclgd predict`'s flags, refusals and JSON keys."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iclgd.cli import main
from iclgd.properties.checks import check
from iclgd.properties.papers.ding import drawn_prompt, stack_limit
from iclgd.theory import Setting, get_claim

CLAIM = "Ding-causal"


@pytest.mark.claim(CLAIM)
@settings(max_examples=20, deadline=None)
@given(d=st.integers(2, 4), n=st.integers(2, 8), k=st.sampled_from((0, 1)))
def test_the_causal_limit_is_a_fixed_point_of_every_example(d, n, k):
    """The derived fixed point: after the limit every example's own residual is zero, u_j = y_j − w_jᵀx_j = 0,
    which the stack shows as the read-out of each example placed as the query (its prefix x_1..x_j)."""
    s = Setting(d, n, 0.0, extra=(("normalisation", k),))
    X, y, _ = drawn_prompt(s)
    for j in range(1, n + 1):
        # the j-th example as a query over the first j examples (N = j = |A(j)|; under 1/n the query's N is j too)
        got = stack_limit(X[:j], y[:j], X[j - 1], True, k)
        c = check(CLAIM, f"read-out at x_{j} over examples 1..{j} vs y_{j} (w_jᵀx_j = y_j)", float(y[j - 1]), got,
                  1e-7 * max(1.0, float(np.abs(y).max())), "float64 squarings of the layer matrix: relative 1e-7",
                  {**s.to_json(), "j": j})
        assert c.holds, c.summary()


def test_normalisations_agree_for_one_example_and_differ_beyond(capsys):
    claim = get_claim(CLAIM)

    def risk(n, k):
        return claim.predict(Setting(4, n, 0.0, extra=(("normalisation", k),)), exact=False).values["causal_limit_risk"]

    assert risk(1, 0) == risk(1, 1)
    assert risk(6, 0) != risk(6, 1)


def test_predict_json_names_its_values(capsys):
    rc = main(["predict", "--claim", CLAIM, "--d", "4", "--n", "10", "--sigma2", "0.5", "--json"])
    o = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert {"causal_limit_risk", "prefix_limit_risk", "causal_risk_n_infinity", "loss"} <= set(o)
    assert o["exact"]["prefix_limit_risk"] == "9/10"  # σ²(1 + d/(n − d − 1)) = 0.5 · 9/5
    assert o["causal_risk_n_infinity"] == pytest.approx(1.5)  # σ²(1 + d/(d − 2))


@pytest.mark.parametrize(("flags", "flag"), [
    (["--d", "4", "--n", "10", "--normalisation", "2"], "--normalisation"),
    (["--d", "4", "--n", "10", "--normalisation", "0.5"], "--normalisation"),
    (["--d", "2", "--n", "10", "--sigma2", "0.5"], "sigma2"),  # E‖x‖⁻² = ∞
    (["--d", "4", "--n", "5", "--sigma2", "0.5"], "n"),  # least squares' pole |n − d| ≤ 1
    (["--d", "4", "--n", "10", "--cov-w", "[[2,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]"], "--cov-w"),
])
def test_out_of_range_inputs_exit_2_naming_the_flag(capsys, flags, flag):
    try:
        rc = main(["predict", "--claim", CLAIM, *flags])
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and flag in err[-1] and sum("error" in line for line in err) == 1, err
