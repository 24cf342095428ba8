"""Gatmiry-loop and Ahn-L2 beyond the spec drivers: the Wishart moments' symmetry and their M1 special case,
the high-noise regime where the best two steps coincide, and `iclgd predict`'s flags, refusals and JSON keys."""
from __future__ import annotations

import json

import pytest
import sympy as sp

from iclgd.cli import main
from iclgd.properties.checks import check
from iclgd.properties.papers.gatmiry import trace_moment_by_expansion
from iclgd.theory import Setting, get_claim
from iclgd.theory.papers.gatmiry import d_sym, n_sym, wishart_trace_moment


@pytest.mark.claim("Gatmiry-loop")
def test_wishart_moments_are_symmetric_in_n_and_d_and_match_the_expansion_off_the_strategy():
    """tr (XᵀX)^k = tr (XXᵀ)^k: each Wick polynomial is symmetric in (n, d); and it matches the polynomial
    expansion at (n, d) = (5, 1), (1, 5), (2, 2) for k ≤ 6 (outside the exact strategy's n·d ≤ 6 at k = 6)."""
    for k in range(1, 7):
        m = wishart_trace_moment(k)
        assert sp.expand(m - m.subs({n_sym: d_sym, d_sym: n_sym}, simultaneous=True)) == 0
        for n, d in [(5, 1), (1, 5), (2, 2)]:
            v = int(m.subs({n_sym: n, d_sym: d}))
            c = check("Gatmiry-loop", f"E tr (XᵀX)^{k} at n={n}, d={d}: Wick vs expansion", trace_moment_by_expansion(n, d, k),
                      v, 0.0, "exact integers", {"n": n, "d": d, "k": k})
            assert c.holds, c.summary()


@pytest.mark.claim("Gatmiry-loop")
@pytest.mark.parametrize(("d", "n", "s2"), [(5, 20, 0.5), (1, 1, 0.0), (3, 2, 2.0)])
def test_one_loop_is_mahankali_et_als_one_step(d, n, s2):
    """L = 1: the looped step is η = n/(n + d + 1 + σ²) and its loss σ² + d(d + 1 + σ²)/(n + d + 1 + σ²) (M1, Thm 1
    of Mahankali et al.; typed from the paper, not from the suite's M1 code), and looping costs nothing."""
    v = get_claim("Gatmiry-loop").predict(Setting(d, n, s2, extra=(("layers", 1),)), exact=False).values
    eta, loss = n / (n + d + 1 + s2), s2 + d * (d + 1 + s2) / (n + d + 1 + s2)
    for q, ref, got in [("η", eta, v["shared_step"]), ("L*", loss, v["loss_shared"]), ("cost", 0.0, v["loop_cost"])]:
        c = check("Gatmiry-loop", f"L = 1 {q} vs M1", ref, got, 1e-12 * max(1.0, abs(ref)), "float64", {"d": d, "n": n})
        assert c.holds, c.summary()


def test_high_noise_two_steps_coincide_and_low_noise_ones_differ():
    claim = get_claim("Ahn-L2")
    hi = claim.predict(Setting(1, 2, 2.0), exact=False).values
    lo = claim.predict(Setting(1, 2, 0.0), exact=False).values
    assert hi["step_1"] == hi["step_2"] and lo["step_1"] < lo["step_2"]
    loop = get_claim("Gatmiry-loop").predict(Setting(1, 2, 2.0, extra=(("layers", 2),)), exact=False).values
    assert loop["loop_cost"] == pytest.approx(0.0, abs=1e-12) and hi["step_1"] == pytest.approx(loop["shared_step"])


def test_predict_json_names_its_values(capsys):
    assert main(["predict", "--claim", "Gatmiry-loop", "--d", "3", "--n", "5", "--layers", "3", "--json"]) == 0
    o = json.loads(capsys.readouterr().out)
    assert {"shared_step", "loss_shared", "unshared_steps", "loss_unshared", "loop_cost"} <= set(o)
    assert len(o["unshared_steps"]) == 3 and o["loop_cost"] > 0
    assert main(["predict", "--claim", "Ahn-L2", "--d", "5", "--n", "20", "--sigma2", "0.5", "--json"]) == 0
    o = json.loads(capsys.readouterr().out)
    assert {"step_1", "step_2", "loss_two_layer", "one_layer_step", "loss_one_layer_step_twice"} <= set(o)
    assert o["exact"]["loss"] == "40771/41522"


@pytest.mark.parametrize(("argv", "flag"), [
    (["--claim", "Gatmiry-loop", "--d", "2", "--n", "4", "--layers", "4"], "--layers"),
    (["--claim", "Gatmiry-loop", "--d", "2", "--n", "4", "--layers", "0"], "--layers"),
    (["--claim", "Gatmiry-loop", "--d", "1", "--n", "1", "--sigma2", "1", "--layers", "3"], "--layers"),  # complex roots
    (["--claim", "Ahn-L2", "--d", "2", "--n", "4", "--layers", "2"], "--layers"),  # Ahn-L2 has no such input
    (["--claim", "Ahn-L2", "--d", "2", "--n", "4", "--cov", "[[2,0],[0,1]]"], "cov"),
])
def test_out_of_range_inputs_exit_2_naming_the_flag(capsys, argv, flag):
    try:
        rc = main(["predict", *argv])
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and flag in err[-1] and sum("error" in line for line in err) == 1, err
