"""Cheng-fGD-RBF beyond the spec drivers: one example makes the optimal step the GP posterior mean, the flag
--lengthscale and `iclgd predict`'s JSON keys and refusals."""
from __future__ import annotations

import json

import pytest

from iclgd.cli import main
from iclgd.properties.checks import check
from iclgd.theory import Setting, get_claim

CLAIM = "Cheng-fGD-RBF"


@pytest.mark.claim(CLAIM)
@pytest.mark.parametrize(("d", "s2", "ell"), [(1, 0.0, 1.0), (3, 0.5, 2.0), (2, 1.0, 0.3)])
def test_with_one_example_the_optimal_step_is_the_posterior_mean(d, s2, ell):
    """n = 1: the posterior mean is K(x_q, x₁) y₁/(1 + σ²), the one-step read-out (η/1) K(x_q, x₁) y₁ — so η* must be
    1/(1 + σ²) (GP regression with one point; typed here, not from the closed form) and its risk the Bayes risk."""
    p = get_claim(CLAIM).predict(Setting(d, 1, s2, extra=(("lengthscale", ell),)), exact=False)
    c = check(CLAIM, "η* at n = 1 vs 1/(1 + σ²) (the GP posterior mean)", 1 / (1 + s2), p.eta, 1e-12, "float64",
              {"d": d, "sigma2": s2, "lengthscale": ell})
    assert c.holds, c.summary()


def test_predict_json_names_its_values(capsys):
    assert main(["predict", "--claim", CLAIM, "--d", "2", "--n", "8", "--sigma2", "0.1", "--lengthscale", "1", "--json"]) == 0
    o = json.loads(capsys.readouterr().out)
    assert {"optimal_step", "one_step_risk", "linear_attention_risk", "eta", "loss"} <= set(o)
    assert o["linear_attention_risk"] > o["one_step_risk"]
    assert o["exact"]["eta"] == "640/263"  # 8·(1/5)/((1/5)(11/10) + 7·(1/16)) = (8/5)/(263/400), A = 1/5, B = 1/16


@pytest.mark.parametrize(("flags", "flag"), [
    (["--lengthscale", "0"], "--lengthscale"),
    (["--lengthscale", "-1"], "--lengthscale"),
    (["--lengthscale", "inf"], "--lengthscale"),
    (["--cov-w", "[[2,0],[0,1]]"], "--cov-w"),
    (["--target", "relu"], "target"),
])
def test_out_of_range_inputs_exit_2_naming_the_flag(capsys, flags, flag):
    try:
        rc = main(["predict", "--claim", CLAIM, "--d", "2", "--n", "4", *flags])
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and flag in err[-1] and sum("error" in line for line in err) == 1, err
