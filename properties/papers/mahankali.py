"""Specs of Mahankali, Hashimoto & Ma (ICLR 2024): M1, M2, M2g (theory/lsa.py) and M3 (theory/nonlinear.py)."""
from __future__ import annotations

from hypothesis import strategies as st

from iclgd.theory import Setting
from iclgd.theory.derivation import population_loss

from ..laws import data_law, sampler_args
from ..report import Curve, register_curve
from ..spec import Spec, TrainedHooks, register_spec
from ..strategies import context_lengths, dims, noise_levels, priors, spd_matrices, targets


def _settings(claim: str):
    @st.composite
    def settings(draw, max_d=None, max_n=None, mc=False):
        d = draw(dims(max_d), label="d")
        n = draw(context_lengths(max_n), label="n")
        sigma2 = draw(noise_levels(), label="σ²")
        if claim == "M1":
            return Setting(d, n, sigma2)
        if claim == "M2":
            return Setting(d, n, sigma2, cov=draw(spd_matrices(d), label="Σ"))
        if claim == "M2g":
            Sigma = draw(spd_matrices(d), label="Σ")
            return Setting(d, n, sigma2, cov=Sigma, cov_w=draw(priors(Sigma), label="prior")[1])
        return Setting(d, n, sigma2, target=draw(targets(d, True), label="target"))
    return settings


def _trained(claim: str) -> TrainedHooks:
    """The law through the one law mapping; L(Γ) exact from the derived moments (theory.derivation)."""
    return TrainedHooks(law=lambda s: sampler_args(claim, s),
                        exact_loss=lambda s, G: population_loss(data_law(claim, s), G))


for _claim in ("M1", "M2", "M2g", "M3"):
    register_spec(Spec(claim=_claim, settings=_settings(_claim), trained=_trained(_claim)))


register_curve(Curve("risk_vs_n_baselines.png", "one-step GD, optimal η (M1)", "M1", tuple(range(1, 41)),
                     lambda m: Setting(3, m, 0.25), "context length n (d = 3, σ² = 0.25)", "o-"))
