"""Nakkiran-monotone beyond the spec drivers: the derivation of λ_opt for symbolic d, r², σ², and the CLI's refusals."""
from __future__ import annotations

import pytest
import sympy as sp

from iclgd.properties.papers.nakkiran import lam_sym, mu

from tests.common.cli import predict_cli


@pytest.mark.claim("Nakkiran-monotone")
def test_lambda_opt_is_d_sigma2_over_r2_for_every_eigenvalue_symbolically():
    """∂/∂λ (λ² r²/d + σ²μ)/(μ + λ)² = 2μ(λ r²/d − σ²)/(μ + λ)³: one root λ = dσ²/r², free of μ (hence of n),
    and there the excess risk of each eigenvalue is σ²/(μ + λ), the Bayes-ridge integrand at τ² = r²/d."""
    d, r2, s2 = sp.symbols("d r2 sigma2", positive=True)
    term = (lam_sym**2 * r2 / d + s2 * mu) / (mu + lam_sym) ** 2
    deriv = sp.diff(term, lam_sym)
    assert sp.simplify(deriv - 2 * mu * (lam_sym * r2 / d - s2) / (mu + lam_sym) ** 3) == 0
    assert sp.solve(sp.numer(sp.together(deriv)), lam_sym) == [d * s2 / r2]
    assert sp.simplify(term.subs(lam_sym, d * s2 / r2) - s2 / (mu + d * s2 / r2)) == 0


@pytest.mark.parametrize(("args", "flag"), [
    (["--d", "2", "--n", "3", "--r2", "0"], "--r2"),
    (["--d", "30", "--n", "20", "--sigma2", "1"], "--n"),
    (["--d", "2", "--n", "3", "--prior-scale", "2"], "--prior-scale"),
])
def test_cli_refuses_outside_the_assumptions_naming_the_flag(args, flag):
    code, _, err = predict_cli("Nakkiran-monotone", *args)
    assert code == 2, err
    assert flag in err.strip().splitlines()[-1] and "Traceback" not in err


def test_cli_json_names_the_values():
    import json

    code, out, err = predict_cli("Nakkiran-monotone", "--d", "3", "--n", "4", "--sigma2", "0.5", "--r2", "2", "--json")
    assert code == 0, err
    o = json.loads(out)
    assert o["lambda_opt"] == 0.75 and o["lambda_opt_normalised"] == 0.75 / 4
    assert o["risk_opt_next_n"] <= o["risk_opt"] == o["loss"]
