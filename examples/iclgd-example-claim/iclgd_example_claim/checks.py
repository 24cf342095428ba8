"""The checks of the two claims (iclgd.properties.spec.Spec): a settings strategy, an exact route
that shares no code with the prediction, and a Monte Carlo route."""
import numpy as np
from hypothesis import strategies as st

from iclgd.empirics.predictors import sample_general
from iclgd.empirics.sampling import generator
from iclgd.properties.checks import check
from iclgd.properties.spec import FalseAlarmCorner, Spec, monte_carlo_mean_check, relative_tolerance
from iclgd.properties.strategies import dims, noise_levels, spd_matrices
from iclgd.theory import Setting, get_claim
from iclgd.theory.setting import exact


@st.composite
def settings(draw, max_d=None, max_n=None, mc=False):
    d = draw(dims(min(max_d or 3, 3)), label="d")
    S = np.round(draw(spd_matrices(d), label="Σ"), 2)
    W = np.round(draw(spd_matrices(d), label="Σ_w"), 2)
    return Setting(d, 1, draw(noise_levels(), label="σ²"), cov=S, cov_w=W)


def exact_checks(claim_id):
    def run(s: Setting):
        # E(wᵀx + ε)² = Σ_ij E[w_i w_j] E[x_i x_j] + σ², entry by entry in exact rationals
        risk = sum(s.Sigma_w_exact[i, j] * s.Sigma_exact[i, j] for i in range(s.d) for j in range(s.d)) \
            + exact(s.sigma2)
        pred = get_claim(claim_id).predict(s, exact=False)
        return [check(claim_id, "risk of ŷ = 0 (stated) vs Σ_ij E[w_i w_j] E[x_i x_j] + σ² (exact)", float(risk),
                      pred.loss, relative_tolerance(float(risk)),
                      "float64 trace vs an exact rational sum: relative 1e-9", s.to_json())]
    return run


def monte_carlo_checks(claim_id):
    def run(s: Setting, seed: int):
        pred = get_claim(claim_id).predict(s, exact=False)

        def replicate(j):
            p = sample_general(40_000, 1, s.d, generator=generator(seed + 7919 * j), Sigma=s.Sigma,
                               Sigma_w=s.Sigma_w, sigma2=s.sigma2)
            sq = p.y[:, -1] ** 2  # (B,) squared error of ŷ = 0 on the query (the last slot)
            return float(sq.mean()), float(sq.std() / sq.numel() ** 0.5)

        return [monte_carlo_mean_check(claim_id, "risk of ŷ = 0 (Monte Carlo)", pred.loss, replicate,
                                       {**s.to_json(), "seed": seed})]
    return run


# where scripts/false_alarm.py measures the Monte Carlo check's single-replicate false-alarm rate: d = 1, σ² = 0
# (y = wx, a product of two Gaussians: the heaviest tails the strategy reaches); only the correct claim has one
CORNERS = (FalseAlarmCorner(Setting(1, 1, 0.0, cov=[[1.0]], cov_w=[[1.0]])),)
SPECS = [Spec(claim=c, settings=settings, exact=exact_checks(c), monte_carlo=monte_carlo_checks(c), false_alarm=fa)
         for c, fa in (("Example-null-risk", CORNERS), ("Example-null-risk-wrong", ()))]
