"""Softmax-limit beyond the spec drivers: the divergence that ends the n·MSE limit at c² = 1/2, the two
score conventions, and `iclgd predict`'s flags and JSON keys (in process and through the installed CLI)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

from iclgd.cli import main
from iclgd.properties.checks import check
from iclgd.theory import Setting, SettingError, get_claim

BIN = Path(sys.executable).parent
CLAIM = "Softmax-limit"


def _cli(*argv):
    return subprocess.run([str(BIN / "iclgd"), "predict", "--claim", CLAIM, *argv], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.claim(CLAIM)
def test_the_gaussian_integral_behind_the_limit_diverges_exactly_from_c2_one_half():
    """E exp(c²z²) for z ~ N(0, 1) (one coordinate of ‖x_q‖²): finite with value (1 − 2c²)^{−1/2} below 1/2, ∞ at
    and above — SymPy's integral of the density, not the closed form."""
    z = sp.Symbol("z", real=True)
    for c2, expected in [(sp.Rational(1, 4), sp.sqrt(2)), (sp.Rational(12, 25), 5), (sp.Rational(1, 2), sp.oo),
                         (sp.Rational(3, 4), sp.oo)]:
        v = sp.integrate(sp.exp(c2 * z ** 2 - z ** 2 / 2) / sp.sqrt(2 * sp.pi), (z, -sp.oo, sp.oo))
        same = v == expected if expected == sp.oo else sp.simplify(v - expected) == 0
        c = check(CLAIM, f"E exp(c²z²) at c² = {c2}", 0.0, 0.0 if same else 1.0, 0.0,
                  "exact SymPy integral against (1 − 2c²)^{−1/2}, or ∞ for c² ≥ 1/2", {"c2": str(c2)})
        assert c.holds


@pytest.mark.claim(CLAIM)
def test_score_conventions_differ_by_sqrt_d_and_agree_at_d_1():
    """--score-scale 1 is the same claim at c/√d: equal predictions at d = 1, different ones at d = 4."""
    claim = get_claim(CLAIM)

    def pred(d, c, k):
        return claim.predict(Setting(d, 5, 0.5, extra=(("inverse_temperature", c), ("score_scale", k))), exact=False)

    assert pred(1, 0.6, 0).values == pred(1, 0.6, 1).values
    assert pred(4, 0.6, 1).values == pred(4, 0.3, 0).values
    assert pred(4, 0.6, 0).values["n_mse_limit"] > pred(4, 0.6, 1).values["n_mse_limit"]
    with pytest.raises(SettingError, match="--inverse-temperature"):
        pred(4, 0.8, 0)
    assert pred(4, 0.8, 1).eta == pytest.approx(0.4)  # c_eff² = 0.16: allowed under the 1/√d convention


def test_predict_json_names_its_values(capsys):
    rc = main(["predict", "--claim", CLAIM, "--d", "3", "--n", "10", "--sigma2", "0.5", "--inverse-temperature",
               "0.5", "--json"])
    o = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert {"limit_coefficient", "n_mse_limit", "limit_risk", "gamma", "eta", "loss"} <= set(o)
    assert o["params"] == {"inverse_temperature": 0.5}
    assert o["exact"]["n_mse_limit"] == "10*sqrt(2)"  # (1 − 1/2)^{−3/2} (3/4 / (1/2) + 3 + 1/2) = 2√2 · 5


@pytest.mark.parametrize(("flags", "flag"), [
    (["--inverse-temperature", "0.71"], "--inverse-temperature"),  # c² = 0.5041 ≥ 1/2: no limit
    (["--inverse-temperature", "-0.1"], "--inverse-temperature"),
    (["--inverse-temperature", "nan"], "--inverse-temperature"),
    (["--inverse-temperature", "1e300"], "--inverse-temperature"),
    (["--score-scale", "2"], "--score-scale"),
    (["--score-scale", "0.5"], "--score-scale"),
    (["--cov", "[[2,0],[0,1]]"], "cov"),
])
def test_out_of_range_inputs_exit_2_naming_the_flag(capsys, flags, flag):
    try:
        rc = main(["predict", "--claim", CLAIM, "--d", "2", "--n", "10", *flags])
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and flag in err[-1] and sum("error" in line for line in err) == 1, err  # usage, then one line


def test_installed_cli_refuses_the_divergent_range_and_prints_json_otherwise():
    bad = _cli("--d", "2", "--n", "4", "--inverse-temperature", "0.8")
    assert bad.returncode == 2 and "--inverse-temperature" in bad.stderr.strip().splitlines()[-1]
    ok = _cli("--d", "2", "--n", "4", "--inverse-temperature", "0.8", "--score-scale", "1", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["limit_coefficient"] == pytest.approx(0.8 / 2 ** 0.5)
