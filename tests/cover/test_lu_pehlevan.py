"""Lu-kappa beyond the spec drivers: the finite-d error approaches the limit at rate exactly O(1/d) (symbolic),
and `iclgd predict`'s JSON keys and refusals."""
from __future__ import annotations

import json

import pytest
import sympy as sp

from iclgd.cli import main
from iclgd.properties.checks import check

CLAIM = "Lu-kappa"


@pytest.mark.claim(CLAIM)
def test_finite_d_gap_is_of_order_one_over_d():
    """d·(L*/d − e_∞) → α/(1 + α + ρ)² (the derivative of the finite-d error in 1/d at 0): finite and non-zero for
    α > 0, so the approach is exactly O(1/d) (what the gpu tier's 1/d extrapolation assumes)."""
    D, a, r = sp.symbols("D alpha rho", positive=True)
    L = r * D + D * (D + 1 + r * D) / (a * D + D + 1 + r * D)
    gap = sp.limit(D * (L / D - (r + (1 + r) / (1 + a + r))), D, sp.oo)
    same = sp.simplify(gap - a / (1 + a + r) ** 2) == 0
    c = check(CLAIM, "d · (finite-d error − limit) as d → ∞ vs α/(1 + α + ρ)²", 0.0, 0.0 if same else 1.0, 0.0,
              "exact SymPy expressions", {"gap": str(gap)})
    assert c.holds, c.summary()


def test_predict_json_names_its_values(capsys):
    assert main(["predict", "--claim", CLAIM, "--d", "100", "--n", "200", "--sigma2", "25", "--json"]) == 0
    o = json.loads(capsys.readouterr().out)
    assert {"alpha", "rho", "icl_error_limit", "excess_limit", "eta_limit", "finite_d_error", "finite_d_gap"} <= set(o)
    assert (o["alpha"], o["rho"]) == (2.0, 0.25)
    assert o["exact"]["icl_error_limit"] == "33/52"  # 1/4 + (5/4)/(13/4) = 1/4 + 5/13


@pytest.mark.parametrize(("flags", "flag"), [
    (["--d", "2", "--n", "4", "--cov", "[[2,0],[0,1]]"], "cov"),
    (["--d", "2", "--n", "4", "--target", "relu"], "target"),
    (["--d", "2", "--n", "4", "--layers", "2"], "--layers"),
])
def test_out_of_range_inputs_exit_2_naming_the_flag(capsys, flags, flag):
    try:
        rc = main(["predict", "--claim", CLAIM, *flags])
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and flag in err[-1] and sum("error" in line for line in err) == 1, err


def test_lu_icl_json_and_the_double_descent(capsys):
    assert main(["predict", "--claim", "Lu-ICL", "--d", "1", "--n", "1", "--alpha", "2", "--kappa", "1", "--tau", "2",
                 "--rho", "0.25", "--json"]) == 0
    o = json.loads(capsys.readouterr().out)
    assert {"icl_error", "icl_error_kappa_tau_infinity", "null_error"} <= set(o)
    errs = []
    for tau in ("0.5", "0.9", "0.99", "1.01", "1.1", "2"):
        assert main(["predict", "--claim", "Lu-ICL", "--d", "1", "--n", "1", "--tau", tau, "--json"]) == 0
        errs.append(json.loads(capsys.readouterr().out)["icl_error"])
    assert errs[0] < errs[1] < errs[2] and errs[3] > errs[4] > errs[5]  # rises into τ = 1, falls after


@pytest.mark.parametrize(("flags", "flag"), [
    (["--tau", "1"], "--tau"),  # the pole
    (["--tau", "0"], "--tau"),
    (["--alpha", "0"], "--alpha"),
    (["--kappa", "-1"], "--kappa"),
    (["--rho", "nan"], "--rho"),
    (["--sigma2", "0.5"], "sigma2"),
])
def test_lu_icl_out_of_range_inputs_exit_2_naming_the_flag(capsys, flags, flag):
    try:
        rc = main(["predict", "--claim", "Lu-ICL", "--d", "1", "--n", "1", *flags])
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and flag in err[-1] and sum("error" in line for line in err) == 1, err
