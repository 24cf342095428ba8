"""Hastie-ridgeless beyond the spec drivers: the limits and 1/n rate constants derived for symbolic γ on each side of
the pole, and the CLI's refusals (the pole, a missing or non-positive --gamma)."""
from __future__ import annotations

import json

import pytest
import sympy as sp

from tests.common.cli import predict_cli


@pytest.mark.claim("Hastie-ridgeless")
def test_limits_and_rates_for_symbolic_gamma():
    """Finite excess σ² m/(M − m − 1) + r²(1 − n/p)⁺ along p = γn: γ = 1 − t → σ²γ/(1 − γ), rate σ²γ/(1 − γ)²;
    γ = 1 + t → r²(1 − 1/γ) + σ²/(γ − 1), rate σ²/(γ − 1)² (t > 0)."""
    n, t, r2, s2 = sp.symbols("n t r2 sigma2", positive=True)
    under = s2 * (1 - t) * n / (n - (1 - t) * n - 1)
    g = 1 - t
    assert sp.simplify(sp.limit(under, n, sp.oo) - s2 * g / (1 - g)) == 0
    assert sp.simplify(sp.limit(n * (under - s2 * g / (1 - g)), n, sp.oo) - s2 * g / (1 - g) ** 2) == 0
    g = 1 + t
    over = r2 * (1 - 1 / g) + s2 * n / (g * n - n - 1)
    lim = r2 * (1 - 1 / g) + s2 / (g - 1)
    assert sp.simplify(sp.limit(over, n, sp.oo) - lim) == 0
    assert sp.simplify(sp.limit(n * (over - lim), n, sp.oo) - s2 / (g - 1) ** 2) == 0


@pytest.mark.parametrize("args", [
    ["--gamma", "1"], ["--gamma", "1.0000000001"], ["--gamma", "0"], [], ["--gamma", "2", "--r2", "-1"],
    ["--gamma", "2", "--cov-w", "[[1,0],[0,1]]"],
])
def test_cli_refuses_outside_the_assumptions_naming_the_flag(args):
    code, _, err = predict_cli("Hastie-ridgeless", "--d", "2", "--n", "8", "--sigma2", "0.5", *args)
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert any(f in last for f in ("--gamma", "--r2", "--cov-w")) and "Traceback" not in err


def test_cli_json_names_the_values_and_extremes_stay_finite():
    code, out, err = predict_cli("Hastie-ridgeless", "--d", "2", "--n", "8", "--sigma2", "0.5", "--gamma", "0.25", "--json")
    assert code == 0, err
    o = json.loads(out)
    assert {"excess_risk_limit", "risk_limit", "rate_constant", "excess_risk_finite"} <= set(o)
    assert o["excess_risk_limit"] == pytest.approx(0.5 / 3) and o["excess_risk_finite"] == pytest.approx(0.2)
    for g in ("1e6", "1e-300", "1.001"):
        code, out, err = predict_cli("Hastie-ridgeless", "--d", "8", "--n", "2", "--sigma2", "2", "--gamma", g, "--json")
        assert code == 0 and all(v is None or abs(v) < 1e300 for k, v in json.loads(out).items()
                                 if k in ("excess_risk_limit", "rate_constant")), err
