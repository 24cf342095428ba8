"""Claim S1 — Shen, Mishra & Khashabi (ICML 2024), Theorem 1 and its consequences, in exact arithmetic.

Symbolic demos (x_i, y_i, x_q real symbols): an identity under the adjacent transpositions of
symbolic demos holds under all of S_n. Each test fails if its statement is false; the mutation
demonstration (an index-dependent GD update) is in notes/shen-order-theorem.md.
"""
import itertools

import pytest
import sympy as sp

from iclgd.theory import get_claim
from iclgd.theory.order import (
    LSAWeights, adam_algorithm, adjacent_transpositions, all_orderings, beta1, demo_symbols, eta,
    full_batch_gd_algorithm, gd_construction, gd_full_batch, generate_symmetric_group, generic_grad,
    is_order_invariant, lsa_icl, lsa_tokens, order_sensitivity_exact, order_variance_exact, permute,
    prefix_gd_algorithm, rational_demos, scalar_demo_symbols, sgd_algorithm, sgd_sequential,
    symbolic_weights, theorem1, theta0, transposition_witness,
)

pytestmark = pytest.mark.claim("S1")
R = sp.Rational


def test_claim_registered():
    c = get_claim("S1")
    assert c.tag == "[paper]" and c.citation.theorem == "Theorem 1"
    assert c.citation.short() == "Shen et al. 2024, Theorem 1"


@pytest.mark.parametrize("n", range(1, 7))
def test_adjacent_transpositions_generate_symmetric_group(n):
    assert generate_symmetric_group(n)
    assert len(adjacent_transpositions(n)) == max(n - 1, 0)


def test_exact_sensitivity_definition():
    a, b = sp.symbols("a b", real=True)
    assert order_variance_exact([a, a, a]) == 0
    assert sp.simplify(order_variance_exact([a, b]) - (a - b) ** 2 / 4) == 0
    assert order_sensitivity_exact([R(1), R(3)]) == 1


# ---- (a) full-batch GD is order invariant ----------------------------------------------------
@pytest.mark.parametrize("n, steps", [(2, 1), (3, 2), (4, 3)])
def test_a_full_batch_gd_generic_loss_invariant(n, steps):
    """Any per-demo gradient ∇ℓ(θ; x, y), k steps: θ_k is a symmetric function of the demos."""
    S = scalar_demo_symbols(n)
    f = lambda D, _: gd_full_batch(theta0, D, grad=generic_grad, steps=steps)  # noqa: E731
    assert transposition_witness(f, S, None) is None


def test_a_full_batch_gd_least_squares_invariant():
    S, xq = demo_symbols(3, 2)
    assert is_order_invariant(full_batch_gd_algorithm(2, steps=2), S, xq)


def test_a_invariance_check_has_power():
    """The same check finds the order dependence of an update that weights demo i by i."""
    S = scalar_demo_symbols(3)

    def weighted(D, _):
        th = theta0
        th = th - eta * sum((i + 1) * generic_grad(th, s) for i, s in enumerate(D))
        return th

    w = transposition_witness(weighted, S, None)
    assert w is not None and w["transposition"] == (1, 0, 2)


# ---- (b) linear self-attention ---------------------------------------------------------------
@pytest.mark.parametrize("layers", [1, 2])
def test_b_noncausal_lsa_generic_weights_invariant(layers):
    S, xq = demo_symbols(3, 1)
    Ws = [symbolic_weights(1, f"l{l}_") for l in range(layers)]
    h = sp.symbols("h1 h2", real=True)
    assert is_order_invariant(lsa_icl(Ws, h=h), S, xq)


def test_b_noncausal_lsa_tokens_equivariant():
    """Without a mask the demo tokens' outputs permute with the demos."""
    S, xq = demo_symbols(3, 1)
    Ws = [symbolic_weights(1)]
    base = lsa_tokens(S, xq, Ws, causal=False)
    for tau in all_orderings(3):
        out = lsa_tokens(permute(S, tau), xq, Ws, causal=False)
        assert all(sp.expand(out[k] - base[tau[k]]) == sp.zeros(2, 1) for k in range(3))


def test_b_causal_lsa_one_layer_invariant_at_query():
    """One causal layer: the query attends to every demo, so its read-out is order invariant."""
    S, xq = demo_symbols(3, 1)
    assert is_order_invariant(lsa_icl([symbolic_weights(1)], causal=True, h=sp.symbols("h1 h2", real=True)), S, xq)


def test_b_causal_lsa_tokens_not_equivariant():
    """...but the demo positions see prefixes: token 1 after swapping demos 1, 2 ≠ token 2 before."""
    S, xq = demo_symbols(2, 1)
    Ws = [gd_construction(1)]
    base = lsa_tokens(S, xq, Ws, causal=True)
    out = lsa_tokens(permute(S, (1, 0)), xq, Ws, causal=True)
    diff = sp.factor(sp.expand(out[0][1] - base[1][1]))
    (x1,), (x2,) = S[0][0], S[1][0]
    y1, y2 = S[0][1], S[1][1]
    assert sp.expand(diff - eta * x1 * x2 * y1 / 2) == 0


def test_b_causal_lsa_two_layers_witness():
    """Two causal layers with the GD construction: swapping the two demos changes the read-out by
    η² x₁x₂x_q(x₂y₁ − x₁y₂)/4 (n = 2, d = 1) — non-zero for generic demos."""
    S, xq = demo_symbols(2, 1)
    w = transposition_witness(lsa_icl([gd_construction(1)] * 2, causal=True), S, xq)
    (x1,), (x2,) = S[0][0], S[1][0]
    y1, y2 = S[0][1], S[1][1]
    assert w["transposition"] == (1, 0)
    assert sp.expand(w["difference"] - eta**2 * x1 * x2 * xq[0] * (x2 * y1 - x1 * y2) / 4) == 0


def test_b_causal_lsa_generic_weights_witness():
    """Any weights: an exact rational instance where two causal layers are order sensitive."""
    S = rational_demos([[1], [2], [-1]], [1, -1, 2])
    xq = sp.Matrix([1])
    Ws = [LSAWeights(sp.Matrix([[1, 0], [1, 1]]), sp.Matrix([[1, 1], [0, 1]]), sp.Matrix([[0, 1], [1, -1]]))] * 2
    w = transposition_witness(lsa_icl(Ws, causal=True), S, xq)
    assert w is not None and w["difference"] != 0
    assert transposition_witness(lsa_icl(Ws, causal=False), S, xq) is None


def test_b_causal_three_demos_witness():
    S, xq = demo_symbols(3, 2)
    w = transposition_witness(lsa_icl([gd_construction(2)] * 2, causal=True), S, xq)
    assert w is not None and w["transposition"] == (1, 0, 2)


# ---- (c) SGD (batch 1) and sequential Adam ---------------------------------------------------
def test_c_sgd_witness_closed_form():
    """SGD over two demos: swapping them changes the prediction by η² x₁x₂x_q(x₂y₁ − x₁y₂) (d = 1) —
    second order in η, zero only on a measure-zero set of demos."""
    S, xq = demo_symbols(2, 1)
    w = transposition_witness(sgd_algorithm(1), S, xq)
    (x1,), (x2,) = S[0][0], S[1][0]
    y1, y2 = S[0][1], S[1][1]
    assert w["transposition"] == (1, 0)
    assert sp.expand(w["difference"] - eta**2 * x1 * x2 * xq[0] * (x2 * y1 - x1 * y2)) == 0


def test_c_sgd_witness_three_demos_two_dims():
    S, xq = demo_symbols(3, 2)
    assert transposition_witness(sgd_algorithm(2), S, xq) is not None


def test_c_sgd_generic_loss_witness():
    S = scalar_demo_symbols(2)
    w = transposition_witness(lambda D, _: sgd_sequential(theta0, D, grad=generic_grad), S, None)
    assert w is not None


def test_c_adam_exact_witness():
    """Sequential Adam (lr 1/10, β = (9/10, 999/1000), ε = 10⁻⁸) on demos (1, 1), (2, 3), x_q = 1:
    the two orders differ by an algebraic number whose minimal polynomial does not vanish at 0."""
    S = rational_demos([[1], [2]], [1, 3])
    adam = adam_algorithm(1, lr=R(1, 10), b1=R(9, 10), b2=R(999, 1000), eps=R(1, 10**8))
    w = transposition_witness(adam, S, sp.Matrix([1]))
    assert w is not None and w["transposition"] == (1, 0)
    assert abs(float(sp.N(w["difference"], 30))) > 1e-3


def test_c_adam_first_step_is_sign_step():
    """Sanity of the Adam implementation: with ε = 0 its first step is −lr·sign(g)."""
    S = rational_demos([[2]], [3])
    th = adam_algorithm(1, lr=R(1, 10), b1=beta1, b2=R(999, 1000), eps=0).update(sp.zeros(1, 1), S)
    assert sp.simplify(th[0] - R(1, 10)) == 0


# ---- (d) Theorem 1 on equivalent and non-equivalent pairs -------------------------------------
@pytest.mark.parametrize("layers", [1, 2])
def test_d_noncausal_construction_equals_gd(layers):
    S, xq = demo_symbols(3, 2)
    r = theorem1(lsa_icl([gd_construction(2)] * layers), full_batch_gd_algorithm(2, steps=layers), S, xq)
    assert r["equivalent"] and r["differences_coincide"] and r["sensitivities_equal"]
    assert r["variance_icl"] == 0 and r["variance_alg"] == 0


def test_d_causal_one_layer_equals_one_gd_step():
    S, xq = demo_symbols(3, 1)
    r = theorem1(lsa_icl([gd_construction(1)], causal=True), full_batch_gd_algorithm(1, steps=1), S, xq)
    assert r["equivalent"] and r["differences_coincide"]


def test_d_causal_construction_equals_prefix_gd():
    """An equivalent pair with non-zero order sensitivity: Theorem 1's two sides coincide for every
    pair of orderings and are not all zero."""
    S, xq = demo_symbols(3, 1)
    r = theorem1(lsa_icl([gd_construction(1)] * 2, causal=True), prefix_gd_algorithm(1, rounds=2), S, xq)
    assert r["equivalent"] and r["differences_coincide"] and r["sensitivities_equal"]
    assert r["variance_icl"] != 0


def test_d_causal_construction_not_gd():
    """Contrapositive: causal LSA's pairwise differences are not GD's (all 0), so it is not GD."""
    S, xq = demo_symbols(3, 1)
    r = theorem1(lsa_icl([gd_construction(1)] * 2, causal=True), full_batch_gd_algorithm(1, steps=2), S, xq)
    assert not r["differences_coincide"] and not r["equivalent"] and not r["sensitivities_equal"]
    assert r["variance_alg"] == 0 and r["variance_icl"] != 0
    assert r["mismatch"]["orderings"] in set(itertools.combinations(all_orderings(3), 2))
