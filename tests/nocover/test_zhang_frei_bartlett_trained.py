"""A trained LSA on ZFB's law (slow): only a replica below L* beyond noise refutes ZFB; not reaching it is
`not-reached` under M1-trained."""
import pytest

from iclgd.theory import Setting


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
