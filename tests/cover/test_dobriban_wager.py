"""DW-optridge beyond the spec drivers: the Stieltjes root and λ* for symbolic γ, λ, σ², r², and the CLI's refusals."""
from __future__ import annotations

import json

import pytest
import sympy as sp

from tests.common.cli import predict_cli


@pytest.mark.claim("DW-optridge")
def test_stieltjes_root_and_lambda_star_symbolically():
    """m = [−(1 − γ + λ) + √((1 − γ + λ)² + 4γλ)]/(2γλ) solves γλm² + (1 − γ + λ)m − 1 = 0 (the MP equation at z = −λ)
    and → 1/(1 + λ) as γ → 0; ∂/∂λ (λ² r² + γσ² x)/(x + λ)² vanishes only at λ* = γσ²/r², where the integrand is
    γσ²/(x + λ*): R(λ*) = γσ² m(−λ*)."""
    g, lam, s2, r2, x = sp.symbols("gamma lambda sigma2 r2 x", positive=True)
    b = 1 - g + lam
    m = (-b + sp.sqrt(b**2 + 4 * g * lam)) / (2 * g * lam)
    assert sp.simplify(sp.expand(g * lam * m**2 + b * m - 1)) == 0
    assert sp.simplify(sp.limit(m, g, 0) - 1 / (1 + lam)) == 0
    term = (lam**2 * r2 + g * s2 * x) / (x + lam) ** 2
    assert sp.solve(sp.numer(sp.together(sp.diff(term, lam))), lam) == [g * s2 / r2]
    assert sp.simplify(term.subs(lam, g * s2 / r2) - g * s2 / (x + g * s2 / r2)) == 0


@pytest.mark.parametrize(("args", "flag"), [
    (["--gamma", "2"], "--sigma2"), (["--sigma2", "1"], "--gamma"), (["--sigma2", "1", "--gamma", "-1"], "--gamma"),
    (["--sigma2", "1", "--gamma", "2", "--p", "3"], "--p"),
])
def test_cli_refuses_outside_the_assumptions_naming_the_flag(args, flag):
    code, _, err = predict_cli("DW-optridge", "--d", "1", "--n", "1", *args)
    assert code == 2, err
    assert flag in err.strip().splitlines()[-1] and "Traceback" not in err


def test_cli_json_names_the_values_and_extremes_stay_finite():
    code, out, err = predict_cli("DW-optridge", "--d", "1", "--n", "1", "--sigma2", "1", "--gamma", "1", "--json")
    assert code == 0, err
    o = json.loads(out)
    assert {"lambda_opt", "stieltjes_m", "excess_risk_limit", "risk_limit", "ridgeless_excess_limit"} <= set(o)
    assert o["ridgeless_excess_limit"] is None and o["lambda_opt"] == 1.0  # γ = 1: optimal ridge finite, ridgeless a pole
    for g, s2 in (("1e6", "1"), ("1e-300", "1"), ("0.5", "1e-300"), ("0.5", "1e6")):
        code, out, err = predict_cli("DW-optridge", "--d", "1", "--n", "1", "--sigma2", s2, "--gamma", g, "--json")
        assert code in (0, 2) and "Traceback" not in err, err
