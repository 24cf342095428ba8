"""Public testing API of iclgd, for tests in your own repository (the pytest plugin's fixtures use it).

Checking a model::

    from iclgd.testing import check_model
    report = check_model(my_model, "M1", d=5, n=20, sigma2=0.5)   # or n=[5, 10, 20]
    assert report.ok, report.summary()     # reached, or better than the claim's class

Strategies (Hypothesis; sizes follow the active iclgd profile, ``ICLGD_PROFILE``):

- ``settings_for(claim_id, max_d=None, max_n=None)`` — a validated Setting within the claim's assumptions;
- ``dims(max_d)``, ``context_lengths(max_n)`` (n ≥ 1, n < d included), ``noise_levels(max_sigma2=2.0)``
  (σ² ≥ 0, 0 first-class), ``seeds()`` (for ``torch.Generator``; never global RNG);
- ``spd_matrices(d, cond_max=10.0)`` (Σ with condition number ≤ cond_max), ``priors(Sigma)`` (Σ_w: I, Σ⁻¹
  or general), ``targets(d, invariant=True)`` (M3 response families).

Also: ``Setting``, ``get_claim``, ``REGISTRY``, ``check``/``Check`` (a prediction beside a measurement
with its tolerance and reason), ``load_model`` (a spec string as for ``iclgd check --model``),
``register_profiles()`` (iclgd's Hypothesis profiles dev/ci/nightly, if you want them), and the verdict
words (``REACHED``, ``NOT_REACHED``, ``REFUTED``, ``BETTER_THAN_CLASS``, ``BELOW_BAYES``, ``INCONCLUSIVE``).
"""
from __future__ import annotations

from iclgd.empirics.external import ModelError, load_model, wrap_model
from iclgd.properties.checks import Check, check
from iclgd.properties.model_check import DEFAULT_BATCH, DEFAULT_PROMPTS, MARGIN, ModelReport
from iclgd.properties.profile import register_profiles
from iclgd.properties.strategies import (context_lengths, dims, noise_levels, priors, seeds, settings_for,
                                         spd_matrices, targets)
from iclgd.properties.verdicts import (BELOW_BAYES, BETTER_THAN_CLASS, INCONCLUSIVE, NOT_REACHED, REACHED,
                                       REFUTED)
from iclgd.theory import REGISTRY, Setting, get_claim

__all__ = [
    "check_model", "ModelReport", "load_model", "ModelError", "Check", "check", "Setting", "get_claim", "REGISTRY",
    "settings_for", "dims", "context_lengths", "noise_levels", "seeds", "spd_matrices", "priors", "targets",
    "register_profiles", "REACHED", "NOT_REACHED", "REFUTED", "BETTER_THAN_CLASS", "BELOW_BAYES", "INCONCLUSIVE",
]


def check_model(model, claim: str, *, d: int, n, sigma2: float = 0.0, device="cpu", prompts: int = DEFAULT_PROMPTS,
                batch: int = DEFAULT_BATCH, seed: int = 0, margin: float = MARGIN, model_class: str = "auto",
                weights=None, model_kwargs=None, **setting_fields) -> ModelReport:
    """Check ``model`` against ``claim`` (what ``iclgd check`` does; returns the report, records nothing).

    ``model``: a callable ``f(X (B,n,d), y (B,n), x_q (B,d)) -> y_hat (B,)`` (NumPy float64 in), an
    ``nn.Module`` (tensors on ``device``), or a spec string (``file.py:name``, ``pkg.mod:name``, ``model.pt``,
    ``module:Class`` with ``weights``/``model_kwargs``). ``n``: an int or a list of context lengths.
    ``setting_fields``: other :class:`~iclgd.theory.Setting` fields (``cov``, ``cov_w``, ``target``, …)."""
    from iclgd.properties.model_check import check_model as run

    ns = [int(v) for v in n] if isinstance(n, (list, tuple, range)) else [int(n)]
    m = (load_model(model, weights=weights, model_kwargs=model_kwargs, device=device) if isinstance(model, str)
         else wrap_model(model, device=device))
    setting = Setting(d=d, n=ns[0], sigma2=sigma2, **setting_fields)
    return run(m, claim, setting, ns, device=device, prompts=prompts, batch=batch, seed=seed, margin=margin,
               model_class=model_class)
