"""Refutations of the M family, pinned: the minimal counterexamples that the generic driver
(tests/cover/test_specs.py) finds by Hypothesis for the Specs' refutations (properties/papers/mahankali.py):
(a) "for non-isotropic x, Γ* ∝ Σ⁻¹ whatever the prior of w" (false for w ~ N(0, I));
(b) "M3's Γ* ∝ I" without rotation invariance of the target family.
Each is recorded (verdict refuted-as-expected) and confirmed independently (exact rationals for (a), the
relaxation's replicate rule for (b), so all of its independent replicates must exceed the critical value)."""
import pytest

from iclgd.properties.checks import record
from iclgd.properties.papers.mahankali import (inverse_sigma_confirm, inverse_sigma_exact, isotropy_confirm,
                                              isotropy_exact)
from iclgd.theory import Setting


@pytest.mark.claim("M2")
@pytest.mark.parametrize("setting", [
    Setting(2, 1, 0.0, cov=[[0.5, 0.0], [0.0, 1.0]]),  # the minimal case the search returns
    Setting(2, 1, 0.0, cov=[[0.5, 0.0], [0.0, 5.0]]),
])
def test_pinned_a(setting):
    assert not record(inverse_sigma_exact(setting)).holds
    assert not inverse_sigma_confirm(setting, 0).holds


@pytest.mark.claim("M3")
@pytest.mark.parametrize("setting", [
    Setting(2, 1, 0.0, target="relu-aniso:0.0,0.5"),
    Setting(2, 1, 0.0, target="relu-aniso:1.0,0.0"),
])
def test_pinned_b(setting):
    assert not record(isotropy_exact(setting)).holds
    assert not isotropy_confirm(setting, 0).holds
