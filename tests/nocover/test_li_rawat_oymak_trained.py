"""Trained one-layer LSA on Li et al.'s retrieval law (slow): x_q ~ N(0, I), x_i = αx_q + z_i, z ~ N(0, ρ²I).

Under Li-RAG (expect="hold"): no trained replica beats L* beyond noise — the LSA output is gᵀΓx_q plus
nuisance terms even under (w, ε) → −(w, ε) (a symmetry of this law: the x's do not depend on w), while the
Γ-part and y_q are odd, so every LSA has loss L(Γ) + E[nuisance²] ≥ L*; a replica below L* would mean the
closed form is wrong. Per replica the paired held-out excess (trained − η*gᵀx_q, same prompts) against
−3.89 SE. Under M1-trained (expect="reach"): each replica within BASIN_GAP·L* + 3.89 SE of L* (evidence
about training only: at d = 2 some seeds end at a non-global critical point, measured 3 of 4 here at +55 %).
The test asserts no refutation and that the best replica reaches L* (so L* is attained, not only a bound)."""
from __future__ import annotations

import math

import pytest
import torch

from iclgd.empirics.models import LSA
from iclgd.empirics.sampling import generator
from iclgd.empirics.train import Schedule, train
from iclgd.properties.checks import check, refutations
from iclgd.properties.trained import BASIN_GAP, REACH
from iclgd.theory import Setting, get_claim

HELD_OUT = 100_000
SCHEDULE = Schedule(steps=1500, lr=3e-2, lr_final=3e-3, warmup=50, batch=512, batch_start=256)


def rag_prompts(s: Setting, B: int, gen, replicas: int | None = None, dtype=torch.float64):
    """X (…, B, n+1, d), y (…, B, n+1) of the retrieval law; row n is the query."""
    ex = dict(s.extra)
    a, rho = ex["retrieval_alpha"], math.sqrt(ex["retrieval_noise"])
    R = replicas or 1
    xq = torch.randn(R * B, 1, s.d, generator=gen, dtype=torch.float64)  # (RB, 1, d)
    X = torch.cat([a * xq + rho * torch.randn(R * B, s.n, s.d, generator=gen, dtype=torch.float64), xq], 1)
    w = torch.randn(R * B, s.d, generator=gen, dtype=torch.float64)  # (RB, d)
    y = (X @ w[:, :, None])[..., 0] + math.sqrt(s.sigma2) * torch.randn(R * B, s.n + 1, generator=gen,
                                                                           dtype=torch.float64)  # (RB, n+1)
    if replicas is None:
        return X.to(dtype), y.to(dtype)
    return X.view(R, B, s.n + 1, s.d).to(dtype), y.view(R, B, s.n + 1).to(dtype)


@pytest.mark.slow
@pytest.mark.claim("Li-RAG", REACH)
def test_trained_lsa_on_the_retrieval_law_does_not_beat_l_star():
    s = Setting(2, 6, 0.25, extra=(("retrieval_alpha", 0.5), ("retrieval_noise", 1.0)))
    pred = get_claim("Li-RAG").predict(s, exact=False)
    model = LSA(s.d, replicas=4, generator=generator(3))
    res = train(model, lambda b, g: rag_prompts(s, b, g, 4, torch.float32), SCHEDULE, generator=generator(4),
                query="sampled")
    X, y = rag_prompts(s, HELD_OUT, generator(5))
    with torch.no_grad():
        yhat = res.model(X.float(), y.float()).double()  # (R, B)
    n = s.n
    g = (y[:, :n, None] * X[:, :n]).mean(1)  # (B, d)
    ref = (pred.eta * (g * X[:, n]).sum(-1) - y[:, n]) ** 2  # (B,) the predicted optimum's squared error
    diff = (yhat - y[:, n]) ** 2 - ref  # (R, B)
    mean, se = diff.mean(-1), diff.std(-1) / HELD_OUT**0.5
    where = {**s.to_json(), "steps": res.steps, "seconds": round(res.seconds, 1), "held_out": HELD_OUT}
    out = []
    for r in range(mean.shape[0]):
        out.append(check("Li-RAG", f"trained LSA minus η*gᵀx_q held-out squared error ≥ 0, replica {r}", 0.0,
                         float(mean[r]), 3.89, "one-sided: (−excess)⁺ / SE ≤ 3.89 (paired, float32 model)", where,
                         error=max(0.0, -float(mean[r])) / float(se[r])))
        out.append(check(REACH, f"Li-RAG: trained LSA reaches L*, replica {r}", 0.0, float(mean[r]),
                         BASIN_GAP * pred.loss + 3.89 * float(se[r]),
                         "reachability: excess ≤ BASIN_GAP·L* + 3.89 SE (paired)", where, expect="reach"))
    print(f"Li-RAG trained: {res.seconds:.1f} s, excess/L* " + ", ".join(f"{float(m) / pred.loss:.2%}" for m in mean))
    assert not refutations(out), [c.summary() for c in refutations(out)]
    assert any(c.holds for c in out if c.claim == REACH), "no replica reached L*"
