"""`iclgd predict` and Setting validation: JSON shape, bad input, and agreement with an
independent Monte Carlo estimate of the optimal Γ (M2g with random Σ, Σ_w)."""
import contextlib
import io
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iclgd.cli import main
from iclgd.empirics.sampling import generator, sample_prompts
from iclgd.properties import closed_form as cf
from iclgd.properties.checks import check
from iclgd.properties.stats import z_crit
from iclgd.theory import Setting, SettingError, get_claim


def run_cli(capsys, *argv):
    try:
        rc = main(list(argv))
    except SystemExit as e:  # argparse's own errors
        rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_predict_json_keys_and_values(capsys):
    rc, out, _ = run_cli(capsys, "predict", "--claim", "M1", "--d", "5", "--n", "20", "--sigma2", "0.5", "--json")
    o = json.loads(out)
    assert rc == 0
    assert {"claim", "d", "n", "sigma2", "gamma", "eta", "loss", "exact"} <= set(o)
    assert o["exact"]["eta"] == "40/53" and o["exact"]["loss"] == "183/106"
    assert np.allclose(o["gamma"], 40 / 53 * np.eye(5))


def test_predict_reads_npy_covariance(capsys, tmp_path):
    path = tmp_path / "cov.npy"
    np.save(path, np.array([[2.0, 0.5], [0.5, 1.0]]))
    rc, out, _ = run_cli(capsys, "predict", "--claim", "M2", "--d", "2", "--n", "10", "--cov", str(path), "--json")
    o = json.loads(out)
    assert rc == 0 and o["eta"] == pytest.approx(10 / 13)
    np.testing.assert_allclose(o["gamma"], 10 / 13 * np.linalg.inv([[2.0, 0.5], [0.5, 1.0]]))


def test_predict_m2g_nonscaled_has_null_eta(capsys):
    rc, out, _ = run_cli(capsys, "predict", "--claim", "M2g", "--d", "2", "--n", "4",
                         "--cov", "[[1,0],[0,2]]", "--json")
    assert rc == 0 and json.loads(out)["eta"] is None


@pytest.mark.parametrize("argv, flag", [
    (["--d", "0", "--n", "3"], "--d"),
    (["--d", "2", "--n", "0"], "--n"),
    (["--d", "2", "--n", "3", "--sigma2", "-0.1"], "--sigma2"),
    (["--d", "2", "--n", "3", "--sigma2", "nan"], "--sigma2"),
    (["--d", "2", "--n", "3", "--sigma2", "inf"], "--sigma2"),
    (["--claim", "M2", "--d", "2", "--n", "3", "--cov", "[[1,2],[2,1]]"], "--cov"),
    (["--claim", "M2", "--d", "2", "--n", "3", "--cov", "[[1,0],[1,1]]"], "--cov"),
    (["--claim", "M2", "--d", "3", "--n", "3", "--cov", "[[1,0],[0,1]]"], "--cov"),
    (["--claim", "M2", "--d", "2", "--n", "3", "--cov", "[[1,NaN],[NaN,1]]"], "--cov"),
    (["--claim", "M2", "--d", "2", "--n", "3", "--cov", "missing.npy"], "--cov"),
    (["--claim", "M2g", "--d", "2", "--n", "3", "--cov-w", "[[1,0],[0,0]]"], "--cov-w"),
    (["--claim", "M2g", "--d", "2", "--n", "3", "--cov-w", "[1, 2]"], "--cov-w"),
    (["--claim", "M9", "--d", "2", "--n", "3"], "--claim"),
    (["--claim", "M3", "--d", "2", "--n", "3", "--target", "sigmoid"], "--target"),
    (["--claim", "M3", "--d", "2", "--n", "3", "--target", "relu-sum:0"], "--target"),
    (["--claim", "M3", "--d", "2", "--n", "3", "--target", "relu-aniso:1,2,3"], "--target"),
    (["--claim", "M1", "--d", "2", "--n", "3", "--cov", "[[2,0],[0,1]]"], "--cov"),
    (["--d", "two", "--n", "3"], "--d"),
])
def test_bad_input_exits_2_with_one_line_naming_the_parameter(capsys, argv, flag):
    rc, out, err = run_cli(capsys, "predict", *argv)
    last = err.strip().splitlines()[-1]
    assert rc == 2 and out == ""
    assert last.startswith("iclgd predict: error:") and flag in last, err
    assert "Traceback" not in err


@pytest.mark.parametrize("kwargs, param", [
    (dict(d=0, n=1), "d"), (dict(d=1.5, n=1), "d"), (dict(d=True, n=1), "d"), (dict(d=1, n=-2), "n"),
    (dict(d=1, n=1, sigma2=-1), "sigma2"), (dict(d=1, n=1, sigma2=float("nan")), "sigma2"),
    (dict(d=2, n=1, cov=[[1, 0], [0, 0]]), "cov"), (dict(d=2, n=1, cov=[[1, 0, 0]]), "cov"),
    (dict(d=2, n=1, cov_w=[[1, 1e-3], [0, 1]]), "cov_w"), (dict(d=2, n=1, target="relu-sum:x"), "target"),
])
def test_setting_rejects_bad_input_naming_the_parameter(kwargs, param):
    with pytest.raises(SettingError) as e:
        Setting(**kwargs)
    assert e.value.param == param


def _spd(rng: np.random.Generator, d: int, cond: float) -> np.ndarray:
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))
    Q = Q * np.sign(np.diag(R))
    lam = np.geomspace(1.0, cond, d) if d > 1 else np.ones(1)
    return (Q * lam) @ Q.T


@pytest.mark.claim("M2g")
@settings(max_examples=4, deadline=None)
@given(d=st.integers(1, 3), n=st.integers(1, 8), sigma2=st.sampled_from([0.0, 0.5]),
       seed=st.integers(0, 2**32 - 1))
def test_predict_m2g_agrees_with_independent_monte_carlo(d, n, sigma2, seed):
    """Least squares of y_q on the Γ features vec(g x_qᵀ) over N fresh prompts estimates Γ* directly
    (the optimum of a quadratic in Γ is the population regression). Tolerance: max |z| over the entries with
    heteroscedasticity-robust (HC3) standard errors, under the replicate rule of closed_form (the normal
    tail is no guide at 6 SE for these heavy-tailed products). Power: those errors are ≤ 5% of ‖Γ*‖."""
    rng = np.random.default_rng(seed)
    Sigma, Sigma_w = _spd(rng, d, 4.0), _spd(rng, d, 3.0)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["predict", "--claim", "M2g", "--d", str(d), "--n", str(n), "--sigma2", str(sigma2),
                   "--cov", json.dumps(Sigma.tolist()), "--cov-w", json.dumps(Sigma_w.tolist()), "--json"])
    out = buf.getvalue()
    assert rc == 0
    gamma = np.array(json.loads(out)["gamma"])
    N = 200_000
    (z, coef, used) = _replicated_regression(
        lambda j: sample_prompts(N, n, d, generator=generator(seed + 7919 * j), Sigma=Sigma, Sigma_w=Sigma_w,
                                 sigma2=sigma2), gamma)
    c = check("M2g", "gamma (predict vs Monte Carlo regression)", gamma, coef, _zc(d), _why(d), dict(d=d, n=n, sigma2=sigma2, cov=Sigma.tolist(), cov_w=Sigma_w.tolist(), seed=seed, N=N,
                                    replicates_run=used), error=z)
    assert c.holds, c.summary()


def gamma_regression(X: np.ndarray, y: np.ndarray):
    """Least squares of y_q on the Γ features g_a x_q,c, with HC3 (sandwich, leverage-corrected)
    standard errors — HC0 underestimates the spread of these heavy-tailed products (tests/test_relaxation.py).
    X: (N, n+1, d) with the query in row n; y: (N, n+1). Returns (Γ̂, se), both (d, d)."""
    N, n, d = X.shape[0], X.shape[1] - 1, X.shape[2]
    g = np.einsum("bi,bia->ba", y[:, :n], X[:, :n]) / n  # (N, d)
    F = (g[:, :, None] * X[:, n, None, :]).reshape(N, d * d)  # (N, d²): g_a x_q,c ↔ Γ_ac
    FtF = F.T @ F
    coef = np.linalg.solve(FtF, F.T @ y[:, n])
    resid = y[:, n] - F @ coef
    bread = np.linalg.inv(FtF)
    h = np.einsum("bk,kl,bl->b", F, bread, F)  # leverages
    Fr = F * (resid / (1 - h))[:, None]
    se = np.sqrt(np.diag(bread @ (Fr.T @ Fr) @ bread))
    return coef.reshape(d, d), se.reshape(d, d)


@pytest.mark.claim("M3")
@settings(max_examples=3, deadline=None)
@given(d=st.integers(1, 3), n=st.integers(2, 10), sigma2=st.sampled_from([0.0, 0.25]),
       seed=st.integers(0, 2**32 - 1))
def test_m3_tanh_quadrature_prediction_agrees_with_monte_carlo(d, n, sigma2, seed):
    """tanh targets have no closed-form μ, ν: the quadrature-based Γ* = η I must match the Monte
    Carlo population regression (HC3 standard errors under the replicate rule, as above; the quadrature
    error is < 1e-10)."""
    pred = get_claim("M3").predict(Setting(d, n, sigma2, target="tanh"))
    assert pred.error < 1e-10 and pred.exact is None
    (z, coef, used) = _replicated_regression(
        lambda j: sample_prompts(200_000, n, d, generator=generator(seed + 7919 * j), sigma2=sigma2, phi="tanh"),
        pred.gamma)
    c = check("M3", "gamma (tanh quadrature vs Monte Carlo regression)", pred.gamma, coef, _zc(d), _why(d),
              dict(d=d, n=n, sigma2=sigma2, target="tanh", seed=seed, replicates_run=used), error=z)
    assert c.holds, c.summary()


def _zc(d: int) -> float:
    """Single-replicate critical value of max |z| over the d² entries (Bonferroni at 1e-4 nominal)."""
    return z_crit(d * d, cf.REPLICATE_ALPHA)


def _why(d: int) -> str:
    return (f"max |z| over the d² entries, z = error / HC3 standard error, ≤ {_zc(d):.2f} per replicate (Bonferroni "
            "at 1e-4), " + cf.replicate_rule(cf.REPLICATES))


def _replicated_regression(draw, gamma):
    """(max |z| under the replicate rule, the first replicate's Γ̂, replicates run); the first replicate must
    have the power to see 5 % of ‖Γ*‖ (its largest SE ≤ 0.05 ‖Γ*‖)."""
    def single(j):
        p = draw(j)
        coef, se = gamma_regression(p.X.numpy(), p.y.numpy())
        assert j > 0 or se.max() <= 0.05 * np.linalg.norm(gamma), "Monte Carlo too weak to test anything"
        return (float((np.abs(coef - gamma) / se).max()),), coef

    (z,), coef, used = cf._replicated(single, (_zc(len(gamma)),), cf.REPLICATES)
    return z, coef, used


@pytest.mark.parametrize("command, flag, stated", [
    ("predict", "--d", "integer in [1, 1024]"), ("predict", "--sigma2", "finite, in [0, 1e+300]"),
    ("train", "--seed", "integer in [0, 2**63-1]"), ("train", "--layers", "integer in [1, 64]"),
    ("train", "--target-error", "finite, in (0, 1]"), ("probe", "--shots", "integer in [2, 64]"),
    ("probe", "--level", "finite, in (0, 1)"),
])
def test_help_states_the_range_of_each_numeric_flag(capsys, command, flag, stated):
    rc, out, _ = run_cli(capsys, command, "--help")
    text = " ".join(out.split())
    assert rc == 0 and flag in text and stated in text, text


def test_predict_human_output_shows_tiny_and_huge_values(capsys):
    """η = 3e-300 is printed as such (it used to print Γ* = +0.000000), L* = 1e300 is finite."""
    rc, out, _ = run_cli(capsys, "predict", "--d", "2", "--n", "3", "--sigma2", "1e300")
    assert rc == 0 and "+3e-300" in out and "L* = 1e+300" in out and "inf" not in out.lower()


def test_predict_extreme_scale_is_scale_free_and_exact_where_small(capsys):
    """M2 at Σ = 1e300·diag(1, 2): Γ* = η Σ⁻¹ to the last bits, η and the exact values unchanged."""
    rc, out, _ = run_cli(capsys, "predict", "--claim", "M2", "--d", "2", "--n", "3",
                         "--cov", "[[1e300,0],[0,2e300]]", "--json")
    o = json.loads(out)
    assert rc == 0 and o["eta"] == pytest.approx(0.5) and o["exact"]["eta"] == "1/2"
    np.testing.assert_allclose(o["gamma"], [[0.5e-300, 0], [0, 0.25e-300]], rtol=1e-15)
    assert o["rescaled"]["cov_divided_by"] == 2.0 ** round(np.log2(np.sqrt(2) * 1e300))
