"""ZFB-covshift / ZFB-queryshift beyond the spec drivers: the engine's error is affine in 1/M (what the
exact route's limit 2R(2) − R(1) rests on), the covariate-shift limit vanishes exactly where Γ_Z Θ = I
(Λ = λI, c = 1 + (d+1)/N) and nowhere else on a grid, and `iclgd predict` (flags, --json keys, exit 2)."""
import json
import subprocess
import sys
from fractions import Fraction

import pytest
import sympy as sp

from tests.common.cli import cli
from iclgd.properties.papers import zfb_shift as Z
from iclgd.theory import Setting, get_claim


@pytest.mark.claim("ZFB-covshift")
@pytest.mark.parametrize("d", [1, 2, 3])
def test_engine_second_moment_is_affine_in_one_over_M(d):
    """Every entry of the engine's E[g gᵀ] at a symbolic d×d P is a + b/M (second derivative in u = 1/M is 0)."""
    (P, _, _), _, E_gg, _ = Z.engine_loss()
    Ps = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"p{min(i, j)}{max(i, j)}"))
    E = sp.Matrix(E_gg.xreplace({P: sp.ImmutableMatrix(Ps), Z.d_sym: d}).doit())
    u = sp.Symbol("u", positive=True)
    assert all(sp.simplify(sp.diff(e.subs(Z.M_SYM, 1 / u), u, 2)) == 0 for e in E)


@pytest.mark.claim("ZFB-covshift")
@pytest.mark.parametrize("d, N, lam", [(1, 2, 0.5), (2, 3, 2.0), (3, 4, 1.0), (2, 1, 1.5)])
def test_covshift_limit_vanishes_exactly_where_gamma_theta_is_identity(d, N, lam):
    """Λ = λI: Γ_Z Θ = I at c = 1 + (d+1)/N (r = 0), and the exact limit (predicted and engine) is 0 there;
    at the neighbouring c ± 1/4 both are positive."""
    c0 = Fraction(N + d + 1, N)
    for c, zero in ((c0, True), (c0 + Fraction(1, 4), False), (c0 - Fraction(1, 4), False)):
        s = Setting(d, N, 0.0, cov=[[lam if i == j else 0.0 for j in range(d)] for i in range(d)], test_n=5,
                    extra=(("shift_ridge", 0.0), ("shift_scale", float(c))))
        if float(c) != c:  # the float c must be the rational meant
            continue
        pred = get_claim("ZFB-covshift").predict(s)
        engine = Z.derived(s, False)["limit"]
        assert (sp.Rational(pred.exact["risk_limit"]) == 0) == zero
        assert (engine == 0) == zero
        assert (sp.Rational(pred.exact["risk_limit"]) == sp.Rational(engine.numerator, engine.denominator))


@pytest.mark.claim("ZFB-queryshift")
def test_predict_json_keys_and_queryshift_is_linear_in_theta():
    base = ["--d", "2", "--n", "4", "--cov", "[[2,0.5],[0.5,1]]", "--test-n", "9", "--json"]
    rc, out, err = cli("predict", "--claim", "ZFB-queryshift", *base)
    assert rc == 0, err
    o = json.loads(out)
    assert {"risk_at_test_n", "risk_limit", "risk_unshifted", "shift_residual"} <= set(o)
    assert o["risk_at_test_n"] == pytest.approx(o["risk_unshifted"], rel=1e-12)  # c = 1, r = 0: no shift
    rc, out, err = cli("predict", "--claim", "ZFB-queryshift", *base, "--shift-scale", "3")
    assert rc == 0, err
    assert json.loads(out)["risk_at_test_n"] == pytest.approx(3 * o["risk_unshifted"], rel=1e-12)  # Θ = 3Λ


@pytest.mark.claim("ZFB-covshift")
@pytest.mark.parametrize("flags, named", [
    (["--shift-scale", "-1"], "--shift-scale"),
    (["--shift-scale", "0", "--shift-ridge", "0"], "--shift-scale"),
    (["--shift-ridge", "nan"], "--shift-ridge"),
    (["--sigma2", "0.5"], "sigma2"),
    (["--shift-scale", "1e300"], "--shift-scale"),
])
def test_out_of_range_flags_exit_2_naming_the_flag(flags, named):
    rc, out, err = cli("predict", "--claim", "ZFB-covshift", "--d", "2", "--n", "3", *flags)
    assert rc == 2 and named in err.strip().splitlines()[-1], err


@pytest.mark.claim("ZFB-covshift")
def test_predict_extreme_values_are_finite_or_refused():
    """A huge ridge or scale gives finite output; through the installed CLI (one subprocess) a negative one
    exits 2 naming the flag."""
    for flags in (["--shift-ridge", "1e5"], ["--shift-scale", "1e6", "--shift-ridge", "1e-300"]):
        rc, out, err = cli("predict", "--claim", "ZFB-covshift", "--d", "2", "--n", "3", *flags, "--json")
        assert rc in (0, 2), err
        if rc == 0:
            assert all(isinstance(json.loads(out)[k], float) for k in ("risk_at_test_n", "risk_limit"))
    rc, out, err = cli("predict", "--claim", "ZFB-covshift", "--d", "2", "--n", "3", "--shift-scale", "1e-300",
                           "--json")
    assert rc == 0 and sp.Rational(json.loads(out)["exact"]["risk_limit"]) > 0, err  # exact, not rounded to 0
    bad = subprocess.run([sys.executable, "-m", "iclgd.cli", "predict", "--claim", "ZFB-covshift", "--d", "2", "--n", "3",
                          "--shift-ridge", "-2"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--shift-ridge" in bad.stderr.strip().splitlines()[-1]
