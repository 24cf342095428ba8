"""Bayes-ridge against trained models (slow): a one-layer LSA trained on the law w ~ N(0, I), x ~ N(0, I), noise σ²
is not below the Bayes risk Bayes-ridge predicts (a trained model below it would mean a wrong Bayes risk or an
evaluation bug), paired on fresh prompts with the posterior mean, whose measured risk must match the prediction."""
import math

import pytest
import torch

from iclgd.empirics import predictors as emp
from iclgd.empirics.models import LSA
from iclgd.empirics.sampling import generator
from iclgd.empirics.train import Schedule, prompt_sampler, train
from iclgd.properties.checks import check
from iclgd.properties.stats import per_check_alpha, z_crit
from iclgd.theory import Setting, get_claim

Z = z_crit(1, 2 * per_check_alpha("trained"))  # one-sided, the trained family's per-check level
PROMPTS = 100_000


@pytest.mark.slow
@pytest.mark.claim("Bayes-ridge")
@pytest.mark.parametrize("setting", [Setting(2, 5, 0.5), Setting(3, 2, 0.25)], ids=["d2-n5", "d3-n2"])
def test_trained_lsa_is_not_below_the_bayes_risk(setting):
    s, R = setting, 2
    bayes = get_claim("Bayes-ridge").predict(s, exact=False).values["bayes_risk"]
    res = train(LSA(s.d, replicas=R, generator=generator(0), dtype=torch.float64),
                prompt_sampler(s.n, s.d, R, dtype=torch.float64, sigma2=s.sigma2),
                Schedule(steps=300, batch=1024, batch_start=256), generator=generator(1))
    p = emp.sample_general(PROMPTS, s.n, s.d, generator=generator(2), sigma2=s.sigma2)
    with torch.no_grad():
        yhat = res.model(p.X.expand(R, *p.X.shape), p.y.expand(R, *p.y.shape))  # (R, B)
    post = emp.posterior_mean_predictions(p.X, p.y, None, None, s.sigma2)  # (B,)
    sq_bayes = (p.y[:, s.n] - post) ** 2  # (B,)
    for r in range(R):
        diff = (p.y[:, s.n] - yhat[r]) ** 2 - sq_bayes  # (B,) paired excess over the posterior mean
        se = float(diff.std() / math.sqrt(diff.numel()))
        c = check("Bayes-ridge", "trained LSA replica's risk − the posterior mean's, paired (one-sided)", 0.0,
                  float(diff.mean()), Z, f"one-sided z ≤ {Z:.2f} below 0 (the trained family's per-check level)",
                  {**s.to_json(), "replica": r, "se": se, "prompts": PROMPTS}, error=max(0.0, -float(diff.mean()) / se))
        assert c.holds, c.summary()
    mean, se = float(sq_bayes.mean()), float(sq_bayes.std() / math.sqrt(sq_bayes.numel()))
    c = check("Bayes-ridge", "posterior mean's measured risk vs the predicted Bayes risk (same prompts)", bayes, mean,
              Z, f"|z| ≤ {Z:.2f}", {**s.to_json(), "se": se}, error=abs(mean - bayes) / se)
    assert c.holds, c.summary()
