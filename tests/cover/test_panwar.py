"""Panwar-GMM beyond the spec drivers: the prior's moments (mean and covariance of the mixture) against a
direct computation, and the validator naming the parameter."""
import numpy as np
import pytest

from iclgd.theory import Setting, SettingError, get_claim
from iclgd.theory.papers import panwar as T


@pytest.mark.claim("Panwar-GMM")
@pytest.mark.parametrize("d, m, t2, p", [(1, 2.0, 0.25, 0.5), (3, 1.0, 1.0, 0.25)])
def test_mixture_moments(d, m, t2, p):
    s = Setting(d, 2, 0.5, extra=(("mixture_prob", p), ("mixture_shift", m), ("mixture_var", t2)))
    mu, _, _, b, Sw = T.prior(s, get_claim("Panwar-GMM"))
    assert np.linalg.norm(mu) == pytest.approx(m)
    mean = p * mu - (1 - p) * mu
    second = p * (t2 * np.eye(d) + np.outer(mu, mu)) + (1 - p) * (t2 * np.eye(d) + np.outer(mu, mu))
    assert np.allclose(b, mean, atol=1e-15) and np.allclose(Sw, second - np.outer(mean, mean), atol=1e-14)


@pytest.mark.claim("Panwar-GMM")
@pytest.mark.parametrize("kw, named", [(dict(sigma2=0.0), "sigma2"),
                                       (dict(sigma2=0.5, extra=(("mixture_var", 0.0),)), "--mixture-var"),
                                       (dict(sigma2=0.5, extra=(("mixture_prob", 1.0),)), "--mixture-prob"),
                                       (dict(sigma2=0.5, mean=[1.0, 0.0]), "mean")])
def test_validator_names_the_parameter(kw, named):
    with pytest.raises(SettingError) as e:
        get_claim("Panwar-GMM").validate(Setting(2, 3, **kw))
    assert named in str(e.value)
