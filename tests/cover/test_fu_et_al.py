"""Fu-Newton (an identity: row checked-identity) beyond the generic Spec drivers: the Newton step identity
in the free algebra, exact rationals, convergence order, the linear-attention construction, `iclgd predict`."""
import json

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings

from iclgd.cli import main
from iclgd.empirics import predictors as emp
from iclgd.properties.checks import check
from iclgd.properties.papers.fu_et_al import newton_checks
from iclgd.properties.profile import scale
from iclgd.properties.strategies import rational_spd, seeds, settings_for
from iclgd.theory import derivations_linear as D
from iclgd.theory.papers.fu_et_al import default_alpha, newton_iterates, newton_residual_closed_form
from hypothesis import strategies as st


@pytest.mark.claim("Fu-Newton")
def test_newton_identity_in_the_free_algebra_and_exact_rationals():
    assert D.newton_step_identity() == 0
    S = sp.Matrix([[3, 1, 0], [1, 2, 1], [0, 1, 2]])
    alpha = default_alpha(S)
    for k, Mk in enumerate(newton_iterates(S, alpha, 4)):
        assert sp.eye(3) - S * Mk == newton_residual_closed_form(S, alpha, k)


@pytest.mark.claim("Fu-Newton")
@settings(max_examples=max(4, scale().max_examples // 4))
@given(s=settings_for("Fu-Newton", max_d=4), seed=seeds())
def test_newton_iteration_order_and_transformer_construction(s, seed):
    checks = newton_checks(s, seed)
    assert all(c.holds for c in checks), [c.summary() for c in checks if not c.holds]


@given(d=st.integers(1, 4), data=st.data())
def test_rational_spd_matrices_are_spd_with_eigenvalues_at_least_half(d, data):
    S = data.draw(rational_spd(d))
    assert np.linalg.eigvalsh(S)[0] >= 0.5 * (1 - 1e-12)  # A Aᵀ + c I, c ≥ 1/2 (eigvalsh rounding)


@pytest.mark.claim("Fu-Newton")
def test_predict_is_the_iterate(capsys):
    rc = main(["predict", "--claim", "Fu-Newton", "--d", "2", "--n", "3", "--cov", "[[2,1],[1,2]]", "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    o = json.loads(out.out)
    S = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    M = emp.newton_reference(S, o["eta"], 3)
    E = torch.eye(2, dtype=torch.float64) - S @ M
    c = check("Fu-Newton", "predict: M_k and ‖I − S M_k‖_F² vs the iteration", [o["loss"]], [float((E * E).sum())],
              1e-12, "float64 rounding of 3 Newton steps", {"n": 3})
    assert c.holds and np.allclose(o["gamma"], M.numpy(), atol=1e-13), c.summary()
    assert o["exact"]["eta"] == "1/10"
