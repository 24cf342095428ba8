"""BHX-minnorm beyond the spec drivers: E[1/χ²_k] = 1/(k − 2) for symbolic k (the inverse-Wishart mean the formula
rests on), the formula's regimes against the route for symbolic n, and the CLI's refusals at the peak."""
from __future__ import annotations

import json

import pytest
import sympy as sp

from iclgd.properties.ridge_routes import minnorm_risk_parts
from tests.common.cli import predict_cli


@pytest.mark.claim("BHX-minnorm")
def test_inverse_chi2_mean_symbolically():
    """∫ x⁻¹ · x^{k/2−1} e^{−x/2} / (2^{k/2} Γ(k/2)) dx = 1/(k − 2) for every k = j + 3, j ≥ 0."""
    j, x = sp.symbols("j x", nonnegative=True)
    k = j + 3
    dens = x ** (k / 2 - 1) * sp.exp(-x / 2) / (2 ** (k / 2) * sp.gamma(k / 2))
    value = sp.integrate(dens / x, (x, 0, sp.oo), conds="none")
    assert sp.simplify(sp.expand_func(sp.gammasimp(value)) - 1 / (k - 2)) == 0


@pytest.mark.claim("BHX-minnorm")
@pytest.mark.parametrize(("D", "p", "n"), [(6, 2, 9), (6, 6, 3), (9, 7, 2), (4, 4, 12)])
def test_route_matches_both_regimes_of_the_formula(D, p, n):
    """The route's (s², variance, bias) at w ~ N(0, I_D) against s²(1 + p/(n − p − 1)) (p ≤ n − 2) and
    p(1 − n/p) + s²(1 + n/(p − n − 1)) (p ≥ n + 2), σ² symbolic."""
    s2 = sp.Symbol("sigma2", nonnegative=True)
    risk = sum(minnorm_risk_parts(p, n, p, D - p, s2))
    se = D - p + s2
    stated = se * (1 + sp.Rational(p, n - p - 1)) if p <= n - 2 else p * (1 - sp.Rational(n, p)) + se * (1 + sp.Rational(n, p - n - 1))
    assert sp.simplify(risk - stated) == 0


@pytest.mark.parametrize(("args", "flag"), [
    (["--d", "3", "--n", "6", "--p", "5"], "--p"),
    (["--d", "6", "--n", "4", "--p", "5", "--sigma2", "0.5"], "--p"),
    (["--d", "6", "--n", "4", "--p", "3"], "--p"),
    (["--d", "6", "--n", "4"], "--p"),
    (["--d", "6", "--n", "4", "--p", "2.5"], "--p"),
])
def test_cli_refuses_outside_the_assumptions_naming_the_flag(args, flag):
    code, _, err = predict_cli("BHX-minnorm", *args)
    assert code == 2, err
    assert flag in err.strip().splitlines()[-1] and "Traceback" not in err


def test_cli_json_names_the_values_and_the_noiseless_peak_is_finite():
    code, out, err = predict_cli("BHX-minnorm", "--d", "5", "--n", "4", "--p", "5", "--json")
    assert code == 0, err
    o = json.loads(out)
    assert {"risk_minnorm", "effective_noise", "variance_term", "bias_term"} <= set(o)
    assert o["risk_minnorm"] == o["loss"] == 1.0  # p = D = n + 1, σ² = 0: the bias D − n alone
