"""Wu-near-Bayes beyond the spec drivers: the ratio's limit for symbolic d, σ², τ², and the CLI's refusals."""
from __future__ import annotations

import json

import pytest
import sympy as sp

from iclgd.properties.papers.wu_bayes import ratio_limit_route
from tests.common.cli import predict_cli


@pytest.mark.claim("Wu-near-Bayes")
def test_ratio_limit_symbolically():
    """lim n(L* − σ²)/(σ²d) = (τ²(d + 1) + σ²)/σ² for symbolic d, σ², τ² (= (d + 1 + σ²)/σ² at τ² = 1): unbounded as
    σ² → 0."""
    d, s2, t2 = sp.symbols("d sigma2 tau2", positive=True)
    lim = ratio_limit_route(d, s2, t2)
    assert sp.simplify(lim - (t2 * (d + 1) + s2) / s2) == 0
    assert sp.limit(lim, s2, 0) == sp.oo


@pytest.mark.parametrize(("args", "flag"), [
    (["--d", "2", "--n", "5"], "--sigma2"), (["--d", "2", "--n", "5", "--sigma2", "1", "--r2", "2"], "--r2"),
    (["--d", "30", "--n", "40", "--sigma2", "1"], "--d"),
])
def test_cli_refuses_outside_the_assumptions_naming_the_flag(args, flag):
    code, _, err = predict_cli("Wu-near-Bayes", *args)
    assert code == 2, err
    assert flag in err.strip().splitlines()[-1] and "Traceback" not in err


def test_cli_json_names_the_values():
    code, out, err = predict_cli("Wu-near-Bayes", "--d", "2", "--n", "5", "--sigma2", "0.5", "--json")
    assert code == 0, err
    o = json.loads(out)
    assert {"lsa_risk", "bayes_risk", "excess_ratio", "excess_ratio_limit"} <= set(o)
    assert o["excess_ratio"] >= 1 and o["excess_ratio_limit"] == pytest.approx(3.5 / 0.5)
