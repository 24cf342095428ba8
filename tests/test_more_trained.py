"""ZFB: gradient flow from Zhang, Frei & Bartlett's initialisation on the exact population loss
(default suite, deterministic), and a trained LSA on ZFB's law (`slow`). For trained models only a
replica below L* beyond noise refutes the claim; not reaching it is `not-reached` (M1-trained)."""
import numpy as np
import pytest
from hypothesis import given, settings

from iclgd.properties import more_claims as P
from iclgd.properties.more_strategies import settings_more
from iclgd.properties.strategies import seeds
from iclgd.theory import Setting


@pytest.mark.claim("ZFB")
@settings(max_examples=6)
@given(s=settings_more("ZFB", max_d=3, max_n=12), seed=seeds())
def test_zfb_gradient_flow_from_their_initialisation_reaches_gamma_z(s, seed):
    checks = P.zfb_gradient_flow(s, seed)
    assert all(c.holds for c in checks), [c.summary() for c in checks if not c.holds]


@pytest.mark.slow
@pytest.mark.claim("ZFB", "M1-trained")
@pytest.mark.parametrize("setting", [Setting(2, 8, cov=[[2.0, 0.0], [0.0, 1.0]])], ids=["d2-n8"])
def test_trained_lsa_on_zfb_law_is_not_below_gamma_z(setting):
    from iclgd.properties.trained import train_and_compare

    res, checks = train_and_compare("ZFB", setting, seed=0, plan="cpu")
    below = [c for c in checks if c.claim == "ZFB" and c.expect == "hold"]
    assert below, "train_and_compare produced no check under ZFB"
    assert all(c.holds for c in below), [c.summary() for c in below if not c.holds]
    print(f"ZFB trained: rel error of Γ̄ {res.rel_error:.3g}, loss {res.loss:.4g} vs L* {res.loss_star:.4g}, "
          f"{len(res.basin)}/{res.replicas} replicas at L*, {res.seconds:.1f} s")
