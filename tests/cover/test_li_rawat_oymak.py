"""Li-H3-weighting and Li-RAG beyond the spec drivers: α = 0 (ρ² = 1) is M1 exactly (symbolic d, n, σ²,
and against M1's own prediction), equal noise makes H3 and LSA coincide with M1's excess risk (symbolic),
and `iclgd predict` (flags, --json keys, exit 2 naming the flag)."""
import json

import pytest
import sympy as sp

from tests.common.cli import cli
from iclgd.theory import Setting, get_claim
from iclgd.theory.papers import li_rawat_oymak as T


@pytest.mark.claim("Li-RAG")
def test_alpha_zero_is_m1_symbolically():
    """η*(α = 0, ρ² = 1) = n/(n + d + 1 + σ²) and L* = σ² + d(d + 1 + σ²)/(n + d + 1 + σ²) for symbolic d, n, σ²."""
    A, B = T.rag_moments()
    d, n, s2 = T.d_, T.n_, T.s2_
    A0, B0 = A.subs({T.a_: 0, T.r2_: 1}), B.subs({T.a_: 0, T.r2_: 1})
    assert sp.simplify(B0 / A0 - n / (n + d + 1 + s2)) == 0
    assert sp.simplify(s2 + d - B0**2 / A0 - (s2 + d * (d + 1 + s2) / (n + d + 1 + s2))) == 0


@pytest.mark.claim("Li-RAG")
@pytest.mark.parametrize("d, n, sigma2", [(1, 1, 0.0), (3, 7, 0.5), (5, 2, 1.25)])
def test_alpha_zero_matches_m1_prediction_exactly(d, n, sigma2):
    m1 = get_claim("M1").predict(Setting(d, n, sigma2)).exact
    rag = get_claim("Li-RAG").predict(Setting(d, n, sigma2, extra=(("retrieval_alpha", 0.0),))).exact
    assert sp.Rational(rag["eta"]) == sp.sympify(m1["eta"]) and sp.Rational(rag["loss"]) == sp.sympify(m1["loss"])


@pytest.mark.claim("Li-H3-weighting")
def test_equal_noise_h3_equals_lsa_equals_m1_excess_symbolically():
    d, n, s2 = sp.symbols("d n sigma2", positive=True)
    c = d + 1 + s2  # every c_i equal: H = n/c, C = n c
    H, C = n / c, n * c
    r_h3, r_lsa = d / (1 + H), d * C / (n**2 + C)
    m1_excess = d * (d + 1 + s2) / (n + d + 1 + s2)
    assert sp.simplify(r_h3 - r_lsa) == 0 and sp.simplify(r_h3 - m1_excess) == 0
    # and the module's function, at numbers, agrees with the symbolic form
    w, r, wu, ru = T.h3_closed_form(3, [sp.Rational(1, 2)] * 4)
    assert r == ru == (3 * (4 + sp.Rational(1, 2)) / (4 + 4 + sp.Rational(1, 2))) and set(w) == {wu}


@pytest.mark.claim("Li-H3-weighting")
def test_predict_json_keys():
    rc, out, err = cli("predict", "--claim", "Li-H3-weighting", "--d", "2", "--n", "3", "--sigma2", "0.5",
                           "--noise-step", "1", "--json")
    assert rc == 0, err
    o = json.loads(out)
    assert len(o["weights"]) == 3 and o["weights"][0] > o["weights"][2]  # noisier positions weigh less
    assert o["risk_uniform"] > o["risk_weighted"] == o["loss"] and o["gap"] > 0


@pytest.mark.claim("Li-RAG")
def test_predict_rag_json_keys():
    rc, out, err = cli("predict", "--claim", "Li-RAG", "--d", "2", "--n", "4", "--retrieval-alpha", "0.5",
                           "--retrieval-noise", "0.75", "--json")
    assert rc == 0, err
    o = json.loads(out)
    assert {"eta", "loss", "eta_iid", "risk_iid_step"} <= set(o) and o["risk_iid_step"] > o["loss"]


@pytest.mark.claim("Li-RAG")
@pytest.mark.parametrize("claim, flags, named", [
    ("Li-RAG", ["--retrieval-noise", "0"], "--retrieval-noise"),
    ("Li-RAG", ["--retrieval-alpha", "1e9"], "--retrieval-alpha"),
    ("Li-RAG", ["--cov", "[[2,0],[0,1]]"], "cov"),
    ("Li-RAG", ["--noise-step", "1"], "--noise-step"),
    ("Li-H3-weighting", ["--noise-step", "-1"], "--noise-step"),
    ("Li-H3-weighting", ["--noise-step", "inf"], "--noise-step"),
    ("Li-H3-weighting", ["--n", "200000"], "--n"),
])
def test_out_of_range_flags_exit_2_naming_the_flag(claim, flags, named):
    rc, out, err = cli("predict", "--claim", claim, "--d", "2", "--n", "3", *flags)
    assert rc == 2 and named in err.strip().splitlines()[-1], err


@pytest.mark.claim("Li-RAG")
def test_extreme_values_give_finite_output():
    for flags in (["--retrieval-alpha", "100", "--retrieval-noise", "1e-6"], ["--retrieval-noise", "1e6"],
                  ["--sigma2", "1e6"]):
        rc, out, err = cli("predict", "--claim", "Li-RAG", "--d", "3", "--n", "5", *flags, "--json")
        assert rc in (0, 2), err
        if rc == 0:
            o = json.loads(out)
            assert all(isinstance(o[k], float) for k in ("eta", "loss", "risk_iid_step"))
