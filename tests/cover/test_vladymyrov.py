"""Vlad-mixed-noise beyond the spec drivers: the d = 1 ridge risk by the log-S trapezoid rule against mpmath's
tanh-sinh quadrature (an independent integrator), and the validator naming the flag."""
import mpmath as mp
import pytest

from iclgd.theory import Setting, SettingError, get_claim
from iclgd.theory.papers import vladymyrov as T


@pytest.mark.claim("Vlad-mixed-noise")
@pytest.mark.parametrize("n, lam, s2", [(1, 0.1, 4.0), (2, 1.0, 1.0), (7, 0.25, 2.0), (10, 4.0, 0.1)])
def test_ridge_risk_quadrature_agrees_with_mpmath(n, lam, s2):
    k = mp.mpf(n) / 2
    ref = s2 + mp.quad(lambda t: (lam**2 + s2 * t) / (t + lam) ** 2 * t ** (k - 1) * mp.e ** (-t / 2)
                       / (2**k * mp.gamma(k)), [0, 1, n, mp.inf])
    assert T.ridge_risk_1d(n, lam, s2) == pytest.approx(float(ref), rel=1e-9)


@pytest.mark.claim("Vlad-mixed-noise")
@pytest.mark.parametrize("extra, named", [((("noise_high", 0.5), ("noise_low", 1.0)), "--noise-high"),
                                          ((("noise_prob", 1.0),), "--noise-prob"),
                                          ((("noise_low", 0.0),), "--noise-low")])
def test_validator_names_the_flag(extra, named):
    with pytest.raises(SettingError) as e:
        get_claim("Vlad-mixed-noise").validate(Setting(2, 3, 0.0, extra=extra))
    assert named in str(e.value)
