"""Models and trainer of issue 4, against trusted references: naive per-prompt loops, the THEORY.md
reduction, Ahn et al.'s L-steps-of-preconditioned-GD identity. Exactness in float64; tolerances are
float64 rounding bounds (ε · number of accumulated terms · magnitude)."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from iclgd.empirics.models import LSA, LinearTransformer, SoftmaxAttention, fit_gamma, lsa_readout, tokens
from iclgd.empirics.sampling import generator, sample_prompts
from iclgd.empirics.train import Schedule, cpu_threads, prompt_sampler, train
from iclgd.properties.strategies import seeds

F64 = torch.float64
EPS = torch.finfo(F64).eps


def _prompts(B, n, d, seed, sigma2=0.3):
    p = sample_prompts(B, n, d, generator=generator(seed), sigma2=sigma2, dtype=F64)
    return p.X, p.y


def _bound(*tensors, terms: int) -> float:
    """float64 rounding bound for a sum of ``terms`` products of the given magnitudes."""
    mag = math.prod(float(t.detach().abs().max()) + 1.0 for t in tensors)
    return 8 * terms * EPS * mag


def _naive_lsa(m: LSA, X, y, r: int) -> torch.Tensor:
    """ŷ = hᵀ W_V [(1/n) Σ_i v_i v_iᵀ] W_Kᵀ W_Q v_q, prompt by prompt (Mahankali et al. eq. (2))."""
    WK, WQ, WV, h = (p[r].detach() for p in (m.W_K, m.W_Q, m.W_V, m.h))
    n = X.shape[1] - 1
    out = []
    for b in range(X.shape[0]):
        V = [torch.cat([X[b, i], y[b, i:i + 1]]) for i in range(n)]
        vq = torch.cat([X[b, n], torch.zeros(1, dtype=F64)])
        if m.include_query:
            V.append(vq)
        S = sum(torch.outer(v, v) for v in V) / n
        out.append(h @ WV @ S @ WK.T @ WQ @ vq)
    return torch.stack(out)


@given(d=st.integers(1, 4), n=st.integers(1, 6), R=st.integers(1, 3), seed=seeds(), iq=st.booleans())
@settings(max_examples=20)
def test_lsa_matches_naive_loop(d, n, R, seed, iq):
    m = LSA(d, replicas=R, include_query=iq, init_std=1.0, generator=generator(seed), dtype=F64)
    X, y = _prompts(5, n, d, seed)
    out = m(X, y)
    assert out.shape == (R, 5)
    for r in range(R):
        ref = _naive_lsa(m, X, y, r)
        assert torch.allclose(out[r], ref, rtol=0, atol=_bound(X, y, *m.parameters(), terms=(n + 1) * (d + 1) ** 4))


@given(d=st.integers(1, 4), n=st.integers(1, 6), seed=seeds(), iq=st.booleans())
@settings(max_examples=20)
def test_readout_reconstructs_prediction(d, n, seed, iq):
    """THEORY.md Reduction: ŷ = gᵀΓx_q + Σ_abc T_abc S_ab x_c + s_yy tᵀx_q (S_xx gains x_q x_qᵀ/n with the query)."""
    m = LSA(d, replicas=2, include_query=iq, init_std=1.0, generator=generator(seed), dtype=F64)
    X, y = _prompts(7, n, d, seed + 1)
    ro = m.readout()
    g = (y[:, :n, None] * X[:, :n]).mean(1)  # (B, d)
    xq = X[:, n]
    Sxx = X[:, :n].mT @ X[:, :n] / n + (torch.einsum("bi,bj->bij", xq, xq) / n if iq else 0)
    syy = y[:, :n].square().mean(1)
    rebuilt = (torch.einsum("bd,rde,be->rb", g, ro["gamma"], xq)
               + torch.einsum("rijk,bij,bk->rb", ro["nuisance_xx"], Sxx, xq)
               + syy * torch.einsum("rd,bd->rb", ro["nuisance_yy"], xq))
    assert torch.allclose(m(X, y), rebuilt, rtol=0, atol=_bound(X, y, *m.parameters(), terms=(n + 2) * (d + 1) ** 4))


@given(d=st.integers(1, 4), seed=seeds(), c=st.floats(0.1, 10.0))
@settings(max_examples=20)
def test_readout_invariant_under_rescaling(d, seed, c):
    """(u, G) → (c u, G/c): W_V → c W_V, W_Q → W_Q / c leaves Γ and the nuisance unchanged."""
    m = LSA(d, init_std=1.0, generator=generator(seed), dtype=F64)
    a = m.readout()
    b = lsa_readout(m.W_K, m.W_Q / c, m.W_V * c, m.h)
    for k in ("gamma", "nuisance_xx", "nuisance_yy"):
        assert torch.allclose(a[k], b[k], rtol=1e-12, atol=1e-12)


def test_gd_weights_give_gamma_predictor_without_nuisance():
    """W_K = I, W_Q = [[Γ, 0], [0, 0]], W_V = I, h = e_y: ŷ = gᵀΓx_q exactly, zero nuisance."""
    d, n = 3, 5
    Gam = torch.tensor([[0.7, 0.1, 0.0], [0.2, 0.5, -0.1], [0.0, 0.3, 0.9]], dtype=F64)
    m = LSA(d, dtype=F64)
    with torch.no_grad():
        m.W_K.copy_(torch.eye(d + 1, dtype=F64))
        m.W_Q.zero_()
        m.W_Q[0, :d, :d] = Gam
        m.W_V.copy_(torch.eye(d + 1, dtype=F64))
        m.h.zero_()
        m.h[0, d] = 1
    ro = m.readout()
    assert torch.equal(ro["gamma"][0], Gam) and float(ro["nuisance_norm"][0]) == 0.0
    X, y = _prompts(50, n, d, 3)
    g = (y[:, :n, None] * X[:, :n]).mean(1)
    assert torch.allclose(m(X, y)[0], torch.einsum("bd,de,be->b", g, Gam, X[:, n]), rtol=1e-13, atol=1e-13)
    G, frac = fit_gamma(m(X, y)[0], X, y)
    assert torch.allclose(G, Gam, atol=1e-10) and float(frac) < 1e-20


def _gd_prediction(A, X, y):
    """x_qᵀ w_L for w_{ℓ+1} = w_ℓ − A_ℓ ∇R(w_ℓ), R(w) = (1/2n) Σ (y_i − wᵀx_i)², w_0 = 0."""
    n = X.shape[1] - 1
    w = torch.zeros(X.shape[0], X.shape[2], dtype=F64)
    for Al in A:
        grad = -((y[:, :n] - torch.einsum("bnd,bd->bn", X[:, :n], w)).unsqueeze(-1) * X[:, :n]).mean(1)
        w = w - grad @ Al.T
    return torch.einsum("bd,bd->b", X[:, n], w)


@given(d=st.integers(1, 4), n=st.integers(1, 8), L=st.integers(1, 4), seed=seeds())
@settings(max_examples=20)
def test_ahn_sparse_layers_are_preconditioned_gd_steps(d, n, L, seed):
    """Ahn et al. (2023), Lemma 1: with B_ℓ = 0 the L-layer read-out is L steps of preconditioned GD."""
    m = LinearTransformer(d, L, replicas=2, value_block=False, init_std=1.0, generator=generator(seed), dtype=F64)
    X, y = _prompts(6, n, d, seed + 2)
    out = m(X, y)
    for r in range(2):
        ref = _gd_prediction(m.A[r].detach(), X, y)
        assert torch.allclose(out[r], ref, rtol=1e-10, atol=1e-10 * (1 + float(ref.abs().max())))
    if L == 1:
        g = (y[:, :n, None] * X[:, :n]).mean(1)
        assert torch.allclose(out, torch.einsum("bd,rde,be->rb", g, m.readout()["gamma"], X[:, n]), atol=1e-12)


@given(d=st.integers(1, 3), n=st.integers(1, 6), L=st.integers(1, 3), seed=seeds())
@settings(max_examples=15)
def test_full_layout_with_sparse_blocks_matches_sparse(d, n, L, seed):
    sp = LinearTransformer(d, L, init_std=1.0, generator=generator(seed), dtype=F64)
    full = LinearTransformer(d, L, layout="full", dtype=F64)
    P, Q = sp.matrices()
    with torch.no_grad():
        full.P.copy_(P)
        full.Q.copy_(Q)
    X, y = _prompts(5, n, d, seed)
    assert torch.allclose(sp(X, y), full(X, y), rtol=1e-12, atol=1e-12)


def test_ahn_layer_matches_reference_attention_loop():
    """Z ← Z + (1/n) Σ_{j≤n} (z_iᵀ Q z_j) P z_j for every token i, one layer, written out."""
    d, n = 2, 4
    m = LinearTransformer(d, 1, layout="full", init_std=1.0, generator=generator(5), dtype=F64)
    X, y = _prompts(3, n, d, 6)
    Z = tokens(X, y)
    P, Q = m.P[0, 0].detach(), m.Q[0, 0].detach()
    Z1 = Z.clone()
    for b in range(3):
        for i in range(n + 1):
            Z1[b, i] += sum((Z[b, i] @ Q @ Z[b, j]) * (P @ Z[b, j]) for j in range(n)) / n
    assert torch.allclose(m(X, y)[0], -Z1[:, n, d], rtol=1e-13, atol=1e-13)


def test_softmax_matches_naive_loop_and_is_not_a_gamma_predictor():
    d, n = 3, 6
    m = SoftmaxAttention(d, init_std=2.0, generator=generator(7), dtype=F64)
    X, y = _prompts(400, n, d, 8)
    Z = tokens(X, y)
    M = (m.W_K[0].T @ m.W_Q[0]).detach()
    u = (m.W_V[0].T @ m.h[0]).detach()
    ref = torch.stack([torch.softmax(Z[b, :n] @ M @ Z[b, n], 0) @ (Z[b, :n] @ u) for b in range(len(X))])
    out = m(X, y)[0]
    assert torch.allclose(out, ref, rtol=1e-12, atol=1e-12)
    assert m.readout() == {}
    _, frac = fit_gamma(out.detach(), X, y)
    assert float(frac) > 1e-3  # softmax weights are not of the form gᵀΓx_q


def test_replicas_train_independently():
    """The summed loss gives each replica the gradient of its own loss (Adam is per-coordinate)."""
    d, n = 2, 4
    m = LSA(d, replicas=3, generator=generator(1), dtype=F64)
    X, y = prompt_sampler(n, d, 3, dtype=F64)(16, generator(2))
    (m(X, y) - y[..., -1]).square().mean(-1).sum().backward()
    g_all = m.W_Q.grad[1].clone()
    m.zero_grad()
    (m(X, y)[1] - y[1, :, -1]).square().mean().backward()
    assert torch.equal(g_all, m.W_Q.grad[1])


def test_schedule_shape():
    s = Schedule(steps=100, lr=1e-2, lr_final=1e-4, warmup=10, tail=0.2, batch=1024, batch_start=64)
    lrs = [s.lr_at(t) for t in range(100)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[9] == pytest.approx(1e-2)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))  # non-increasing after warm-up
    assert s.tail_start == 80 and all(v == pytest.approx(1e-4) for v in lrs[80:])
    bs = [s.batch_at(t) for t in range(100)]
    assert bs[0] == 64 and bs[-1] == 1024 and bs == sorted(bs)


@pytest.mark.parametrize("kw, param", [
    (dict(steps=0), "steps"), (dict(tail=1.0), "tail"), (dict(lr=0), "lr"), (dict(batch_start=0), "batch_start"),
    (dict(batch=10, batch_start=20), "batch_start"),
])
def test_schedule_rejects_bad_values_naming_them(kw, param):
    with pytest.raises(ValueError, match=param):
        Schedule(**kw)


@pytest.mark.parametrize("make, param", [
    (lambda: LSA(0), "d"), (lambda: LSA(2, replicas=0), "replicas"),
    (lambda: LinearTransformer(2, 0), "layers"), (lambda: LinearTransformer(2, 2, layout="dense"), "layout"),
])
def test_models_reject_bad_values_naming_them(make, param):
    with pytest.raises(ValueError, match=param):
        make()


def test_inputs_with_wrong_shapes_are_rejected():
    m = LSA(2, replicas=2)
    with pytest.raises(ValueError, match="X"):
        m(torch.zeros(3, 5, 3), torch.zeros(3, 5))  # d = 3 ≠ 2
    with pytest.raises(ValueError, match="X"):
        m(torch.zeros(3, 3, 5, 2), torch.zeros(3, 3, 5))  # 3 replicas of data for 2 models
    with pytest.raises(ValueError, match="X, y"):
        tokens(torch.zeros(3, 5, 2), torch.zeros(3, 4))


def test_train_averages_the_tail_and_stops_on_request():
    d, n, R = 2, 4, 2
    sched = Schedule(steps=40, lr=1e-2, lr_final=1e-3, warmup=5, tail=0.25, batch=32, batch_start=8, check_every=5)
    m = LSA(d, replicas=R, generator=generator(0), dtype=F64)
    res = train(m, prompt_sampler(n, d, R, dtype=F64), sched, generator=generator(1),
                trace=lambda mod: {"W_Q": mod.W_Q.detach().clone()})
    assert res.steps == 40 and res.stopped == "budget" and res.losses.shape == (40, R)
    assert res.trace["W_Q"].shape == (10, R, d + 1, d + 1)  # every tail step
    assert torch.allclose(res.model.W_Q, res.trace["W_Q"].mean(0), rtol=1e-12, atol=1e-12)  # Polyak average
    assert res.prompts == sum(sched.batch_at(t) for t in range(40))
    calls = []
    res = train(LSA(d, generator=generator(0)), prompt_sampler(n, d, 1), sched, generator=generator(1),
                stop=lambda mod, t: calls.append(t) or t >= 15)
    assert res.stopped == "stop" and res.steps == 15 and calls == [5, 10, 15]


def test_cpu_threads_scope_restores():
    before = torch.get_num_threads()
    with cpu_threads(1, "cpu"):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
