"""Peer constructions as differential tests (float64): von Oswald et al.'s one-layer LSA equals one GD
step; Ahn et al.'s L-layer linear transformer equals L steps of preconditioned GD."""
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from iclgd.empirics.sampling import generator
from iclgd.properties import closed_form as cf
from iclgd.properties.strategies import context_lengths, dims, seeds


def _prompts(seed, B, n, d):
    g = generator(seed)
    X = torch.randn(B, n, d, generator=g, dtype=torch.float64)
    return X, torch.randn(B, n, generator=g, dtype=torch.float64), torch.randn(B, d, generator=g, dtype=torch.float64), g


@pytest.mark.claim("M1")
@given(d=dims(), n=context_lengths(), eta=st.floats(0.01, 2.0), seed=seeds())
def test_von_oswald_layer_is_one_gd_step(d, n, eta, seed):
    X, y, xq, g = _prompts(seed, 64, n, d)
    W0 = torch.randn(d, generator=g, dtype=torch.float64)
    c = cf.von_oswald_check(X, y, xq, W0, eta, dict(d=d, n=n, eta=eta, seed=seed), claim="M1")
    assert c.holds, c.summary()


@pytest.mark.claim("M2g")
@given(d=dims(), n=context_lengths(), layers=st.integers(1, 4), seed=seeds())
def test_ahn_layers_are_preconditioned_gd_steps(d, n, layers, seed):
    X, y, xq, g = _prompts(seed, 64, n, d)
    A = torch.randn(layers, d, d, generator=g, dtype=torch.float64) / d
    A = (A + A.mT) / 2  # Ahn et al.'s preconditioners are symmetric
    c = cf.ahn_check(X, y, xq, A, dict(d=d, n=n, layers=layers, seed=seed), claim="M2g")
    assert c.holds, c.summary()


def test_constructions_detect_a_wrong_step():
    """Power: the tolerance is far below the effect of a 1% error in the step size."""
    X, y, xq, g = _prompts(0, 64, 8, 3)
    W0 = torch.zeros(3, dtype=torch.float64)
    ys, yq = cf.constructions.von_oswald_layer(X, y, xq, W0, 0.5)
    dW = cf.constructions.gd_step(X, y, W0, 0.505)
    err = float((yq + torch.einsum("bd,bd->b", xq, dW)).abs().max())
    assert err > 1e3 * cf.von_oswald_check(X, y, xq, W0, 0.5, {}, claim="M1").tolerance
