"""`iclgd predict` for the claims of theory/papers and `iclgd claims`: a number for each claim, agreeing
with an independent Monte Carlo computed here; bad flags exit 2 naming the flag."""
import json

import numpy as np
import pytest
import torch

from iclgd.cli import main
from iclgd.empirics import predictors as emp
from iclgd.empirics.sampling import generator
from iclgd.properties.spec import monte_carlo_mean_check
from iclgd.theory import REGISTRY


def run_cli(capsys, *argv):
    try:
        rc = main(list(argv))
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


L2 = "[[2,0.5],[0.5,1]]"
# claim, flags, the law the Monte Carlo samples (sample_general keywords + prompt length), predictor
CASES = [
    ("ZFB", ["--d", "2", "--n", "6", "--cov", L2], dict(Sigma=[[2, .5], [.5, 1]], length=6), "gamma"),
    ("ZFB-length", ["--d", "2", "--n", "6", "--cov", L2, "--test-n", "30"], dict(Sigma=[[2, .5], [.5, 1]], length=30), "gamma"),
    ("Wu-length", ["--d", "2", "--n", "6", "--cov", L2, "--sigma2", "0.5", "--prior-scale", "2", "--test-n", "3"],
     dict(Sigma=[[2, .5], [.5, 1]], Sigma_w=2 * np.eye(2), sigma2=0.5, length=3), "gamma"),
    ("GD-average", ["--d", "3", "--n", "8", "--sigma2", "0.5"], dict(sigma2=0.5, length=8), "gamma"),
    ("OLS", ["--d", "3", "--n", "9", "--sigma2", "0.5"], dict(sigma2=0.5, length=9), "ols"),
    ("vO-uniform", ["--d", "3", "--n", "5", "--x-dist", "uniform:1.5"], dict(x_uniform=1.5, length=5), "gamma"),
    ("M2m", ["--d", "2", "--n", "5", "--cov", L2, "--sigma2", "0.25", "--mean", "1,-1"],
     dict(Sigma=[[2, .5], [.5, 1]], mean=[1.0, -1.0], sigma2=0.25, length=5), "gamma"),
]


@pytest.mark.parametrize("claim, flags, law, kind", [pytest.param(*c, marks=pytest.mark.claim(c[0])) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_predict_json_agrees_with_monte_carlo(capsys, claim, flags, law, kind):
    rc, out, err = run_cli(capsys, "predict", "--claim", claim, *flags, "--json")
    assert rc == 0, err
    o = json.loads(out)
    assert {"gamma", "eta", "loss", "exact"} <= set(o) and isinstance(o["loss"], float)
    law = dict(law)
    length, d = law.pop("length"), len(o["gamma"]) or int(flags[1])

    def replicate(j):  # 50 000 fresh prompts of the law, seeded 11 + 7919 j
        p = emp.sample_general(50_000, length, d, generator=generator(11 + 7919 * j), **law)
        return emp.ols_loss(p) if kind == "ols" else emp.gamma_loss(p, torch.tensor(o["gamma"], dtype=torch.float64))

    c = monte_carlo_mean_check(claim, "iclgd predict --json loss vs Monte Carlo", o["loss"], replicate,
                               {"argv": flags, "seed": 11})
    assert c.holds, c.summary()


@pytest.mark.parametrize("argv, flag", [
    (["--claim", "OLS", "--d", "5", "--n", "6", "--sigma2", "0.5"], "--n"),
    (["--claim", "vO-uniform", "--d", "3", "--n", "4", "--x-dist", "uniform:-1"], "--x-dist"),
    (["--claim", "vO-uniform", "--d", "3", "--n", "4", "--x-dist", "uniform:0"], "--x-dist"),
    (["--claim", "vO-uniform", "--d", "3", "--n", "4", "--x-dist", "laplace:1"], "--x-dist"),
    (["--claim", "vO-uniform", "--d", "3", "--n", "4"], "--x-dist"),
    (["--claim", "ZFB-length", "--d", "2", "--n", "3", "--test-n", "0"], "--test-n"),
    (["--claim", "M2m", "--d", "2", "--n", "3", "--mean", "1,2,3"], "--mean"),
    (["--claim", "M2m", "--d", "2", "--n", "3", "--mean", "[1,nan]"], "--mean"),
    (["--claim", "M1", "--d", "2", "--n", "3", "--mean", "1,2"], "--mean"),
    (["--claim", "M2g", "--d", "2", "--n", "3", "--test-n", "4"], "--test-n"),
    (["--claim", "ZFB", "--d", "2", "--n", "3", "--sigma2", "0.1"], "--sigma2"),
    (["--claim", "ZFB", "--d", "2", "--n", "3", "--cov-w", "[[2,0],[0,1]]"], "--cov-w"),
    (["--claim", "Wu-length", "--d", "2", "--n", "3", "--prior-scale", "0"], "--prior-scale"),
    (["--claim", "Wu-length", "--d", "2", "--n", "3", "--prior-scale", "2", "--cov-w", "[[2,0],[0,2]]"], "--prior-scale"),
    (["--claim", "Wu-length", "--d", "2", "--n", "3", "--cov-w", "[[2,0],[0,1]]"], "--cov-w"),
    (["--claim", "GD-average", "--d", "2", "--n", "3", "--cov", "[[2,0],[0,1]]"], "--cov"),
    (["--claim", "Fu-Newton", "--d", "2", "--n", "3", "--sigma2", "1"], "--sigma2"),
])
def test_bad_flags_exit_2_naming_the_flag(capsys, argv, flag):
    rc, out, err = run_cli(capsys, "predict", *argv, "--json")
    lines = [l for l in err.strip().splitlines() if "error" in l]
    assert rc == 2 and out == "" and len(lines) == 1 and flag in lines[0], err


def test_claims_lists_every_registered_claim(capsys):
    rc, out, _ = run_cli(capsys, "claims", "--json")
    rows = json.loads(out)
    assert rc == 0 and [r["id"] for r in rows] == list(REGISTRY)
    assert all(r["paper"] and r["tag"] in ("[paper]", "[derived]", "[peer]") for r in rows)
    rc, out, _ = run_cli(capsys, "claims")
    assert rc == 0 and len(out.strip().splitlines()) == len(REGISTRY)
    rc, out, _ = run_cli(capsys, "claims", "--kind", "overgeneralisation", "--json")
    assert {r["kind"] for r in json.loads(out)} == {"overgeneralisation"}
