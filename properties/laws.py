"""The one mapping from a claim and a Setting to the data law its checks sample from (x ~ N(0, Σ),
w ~ N(0, Σ_w), y = f(x) + N(0, σ²)): used by the Monte Carlo checks, the trained tier and the
strategy meta-tests alike."""
from __future__ import annotations

from iclgd.theory import Setting, get_claim
from iclgd.theory.targets import parse_target


def data_law(claim_id: str | None, s: Setting) -> Setting:
    """The Setting with the claim's data law made explicit (e.g. M2's prior Σ⁻¹ written into cov_w);
    ``claim_id=None`` (or M3, whose law is the Setting's own target with w ~ N(0, I)): ``s`` itself."""
    if claim_id is None or claim_id == "M3":
        return s
    dist = get_claim(claim_id).distribution(s)
    return s.replace(cov=dist.Sigma, cov_w=dist.Sigma_w, sigma2=dist.sigma2)


def sampler_args(claim_id: str | None, s: Setting) -> dict:
    """Keyword arguments of :func:`iclgd.empirics.sampling.sample_prompts` for that law."""
    law = data_law(claim_id, s)
    t = parse_target(s.target, s.d)
    phi = {"linear": "linear", "tanh": "tanh"}.get(t.kind, "relu")
    return dict(sigma2=law.sigma2, phi=phi, m=t.m, scales=t.scales or None, Sigma=law.Sigma, Sigma_w=law.Sigma_w)
