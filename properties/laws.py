"""The one mapping from a claim and a Setting to the data law its checks sample from (x ~ N(0, Σ) or
i.i.d. U(−a, a) coordinates, w ~ N(β, Σ_w), y = f(x) + N(0, σ²)): used by the Monte Carlo checks, the
trained tier and the strategy meta-tests alike."""
from __future__ import annotations

from iclgd.theory import Setting, get_claim
from iclgd.theory.setting import uniform_half_width
from iclgd.theory.targets import parse_target


def data_law(claim_id: str | None, s: Setting) -> Setting:
    """The Setting with the claim's data law (``Claim.distribution_fn``) made explicit (e.g. M2's prior Σ⁻¹
    written into cov_w, vO-uniform's x law, M2m's prior mean); the law is read for any Setting, also one
    outside the claim's assumptions (a refutation's). ``claim_id=None``, or a claim without a data law:
    ``s`` itself."""
    fn = None if claim_id is None else get_claim(claim_id).distribution_fn
    if fn is None:
        return s
    dist = fn(s)
    return s.replace(cov=dist.Sigma, cov_w=dist.Sigma_w, sigma2=dist.sigma2, x_dist=dist.x_dist, mean=dist.mean)


def sampler_args(claim_id: str | None, s: Setting) -> dict:
    """Keyword arguments of :func:`iclgd.empirics.sampling.sample_prompts` for that law (``x_uniform``
    and ``mean`` only when the law has them, so the Gaussian laws' keywords are unchanged)."""
    law = data_law(claim_id, s)
    t = parse_target(s.target, s.d)
    phi = {"linear": "linear", "tanh": "tanh"}.get(t.kind, "relu")
    kw = dict(sigma2=law.sigma2, phi=phi, m=t.m, scales=t.scales or None, Sigma=law.Sigma, Sigma_w=law.Sigma_w)
    a = uniform_half_width(law.x_dist)
    if a is not None:
        kw.update(Sigma=None, x_uniform=a)  # x's law is the uniform one alone
    if law.mean is not None:
        kw["mean"] = tuple(law.mean)
    return kw


def linear_law_args(claim_id: str | None, s: Setting) -> dict:
    """:func:`sampler_args` for a linear target, as :func:`iclgd.empirics.predictors.sample_general` keywords."""
    kw = sampler_args(claim_id, s)
    if kw.pop("phi") != "linear" or kw.pop("m") != 1 or kw.pop("scales") is not None:
        raise ValueError(f"claim_id: {claim_id!r}'s law at {s.target!r} is not a linear target")
    return kw
