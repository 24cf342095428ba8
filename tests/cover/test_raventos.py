"""Raventos-dMMSE beyond the spec drivers: ridge's fixed-task risk (d = 1) against mpmath quadrature, and the
validator naming the parameter."""
import mpmath as mp
import pytest

from iclgd.theory import Setting, SettingError, get_claim
from iclgd.theory.papers import raventos as T


@pytest.mark.claim("Raventos-dMMSE")
@pytest.mark.parametrize("n, s2, w", [(1, 0.25, 1.3), (4, 1.0, -0.2), (10, 0.5, 2.0)])
def test_fixed_task_ridge_risk_agrees_with_mpmath(n, s2, w):
    k = mp.mpf(n) / 2
    ref = s2 + mp.quad(lambda t: (s2**2 * w * w + s2 * t) / (t + s2) ** 2 * t ** (k - 1) * mp.e ** (-t / 2)
                       / (2**k * mp.gamma(k)), [0, 1, n, mp.inf])
    assert T.ridge_risk_fixed_w_1d(n, s2, w) == pytest.approx(float(ref), rel=1e-9)


@pytest.mark.claim("Raventos-dMMSE")
@pytest.mark.parametrize("kw, named", [(dict(sigma2=0.0), "sigma2"), (dict(sigma2=0.5, extra=(("tasks", 0),)), "--tasks"),
                                       (dict(sigma2=0.5, extra=(("tasks", 2.5),)), "--tasks"),
                                       (dict(sigma2=0.5, cov=[[2.0, 0.0], [0.0, 1.0]]), "cov")])
def test_validator_names_the_parameter(kw, named):
    with pytest.raises(SettingError) as e:
        get_claim("Raventos-dMMSE").validate(Setting(2, 3, **kw))
    assert named in str(e.value)
