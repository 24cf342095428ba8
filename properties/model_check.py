"""Check a model from outside the suite against a claim — one function for `iclgd check` and the
pytest plugin's ``check_model`` fixture.

:func:`check_model` draws prompts on the device from the claim's own data law (the suite's sampler,
:func:`iclgd.empirics.sampling.sample_prompts`, through the one law mapping
:func:`iclgd.properties.laws.sampler_args`), runs the model on them in batches, and compares, *paired on
the same prompts*, its squared error with that of the claim's predictor ŷ* = gᵀΓ*x_q
(``Claim.predict``), g = (1/n) Σ_j y_j x_j. Beside it, on the same prompts: the Bayes risk of the law
(the posterior mean x_qᵀE[w | context] under w ~ N(β, Σ_w) and Gaussian noise — ridge at λ = σ²Σ_w⁻¹;
Rao-Blackwellised, :func:`iclgd.empirics.relaxation.ridge_bayes_risk`) and the baselines OLS (min-norm
least squares), averaging (Γ = I) and ridge (the posterior mean's measured risk).

The model class. Every claim with a Γ* states it as the best *Γ-predictor* ŷ = gᵀΓx_q (for M1–M3
also the best one-layer LSA, whose nuisance terms cannot help there). A model is taken as in that class
only when its own outputs say so: the least-squares fit of ŷ over the features g ⊗ x_q leaves an
unexplained fraction ≤ ``GAMMA_FIT_TOL`` (float rounding; a genuine non-Γ component is orders of
magnitude larger). A declaration (``iclgd_class``, ``--model-class``) or exposed LSA weights alone
never make a refutation; ``"other"`` keeps a model out of the class whatever its outputs.

Verdicts per n (:mod:`iclgd.properties.verdicts`), from the paired gap Δ = E(ŷ − y)² − E(ŷ* − y)²
and its interval Δ ± z·SE:
- ``below-Bayes``: the model's paired excess over the posterior mean is below 0 beyond noise — no
  predictor can do that; the evaluation is wrong or the model sees y_q (leakage);
- ``refuted`` (in the class): Δ < 0 beyond noise *and* the fitted Γ̂'s own paired excess < 0 beyond
  noise — an explicit Γ-predictor (Γ̂, recorded) that beats Γ*: a counterexample to the claim;
- ``better-than-class`` (outside it): Δ < 0 beyond noise — better than any Γ-predictor, no refutation;
- ``reached``: the interval's upper end ≤ margin·L*; ``not-reached``: its lower end > margin·L* (the gap
  and its interval are reported, and exclude 0); ``inconclusive``: the interval straddles the margin.

Tolerances and why. Gap and risk intervals: two-sided ``INTERVAL_ALPHA`` = 1e-3, Bonferroni over the n
grid (so a model whose true gap is within the margin reads ``not-reached`` at any n of the grid with
probability ≤ 5e-4, and one beyond it ``reached`` likewise). The paired per-prompt differences are
i.i.d. across prompts with finite variance (products of Gaussians up to degree 8), so the normal
approximation applies at the default 65 536 prompts; coverage is measured in tests/test_check_model.py.
Below-class and below-Bayes: one-sided z of the trained family's per-check level
(:func:`iclgd.properties.stats.per_check_alpha`), Bonferroni over the grid and the two checks, plus a
floor of 1000 ε of the model's output dtype times L* (float rounding of ŷ cannot read as a gain).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

import numpy as np
import torch

from iclgd.empirics.external import ExternalModel, declared_class, exposed_gamma, finite_floor
from iclgd.empirics.predictors import gamma_loss, ols_loss, posterior_mean_predictions
from iclgd.empirics.relaxation import ridge_bayes_risk
from iclgd.empirics.sampling import Prompts, generator, sample_prompts
from iclgd.theory import Setting, SettingError, get_claim

from .checks import Check
from .laws import linear_law_args, sampler_args
from .stats import per_check_alpha, z_crit
from .verdicts import (BELOW_BAYES, BETTER_THAN_CLASS, HELD, INCONCLUSIVE, NOT_REACHED, REACHED, REFUTED)

DEFAULT_PROMPTS = 1 << 16  # prompts per n: SE of the M1 gap ≈ 1e-3 L* at d = 5, n = 20 (tests)
DEFAULT_BATCH = 4096  # prompts per model call
MARGIN = 0.01  # reached: gap ≤ MARGIN · L* — the trained tier's basin threshold (BASIN_GAP, notes/trained-transformers.md)
INTERVAL_ALPHA = 1e-3  # two-sided level of the gap / risk intervals, family-wise over the n grid
GAMMA_FIT_TOL = 1e-8  # unexplained output fraction of a Γ-predictor: float rounding (≤ 1e-12 measured, float32)
MAX_GAMMA_FEATURES = 4096  # d² ≤ this (d ≤ 64): the Γ-fit's Gram matrix stays ≤ 128 MiB
FIT_PROMPTS_PER_FEATURE = 16  # the Γ-fit uses 16 d² prompts (≥ 4096): N·d⁴ flops would dominate at d ≳ 10
# the model-level verdict of a grid: its worst point, in this order
ORDER = (BELOW_BAYES, REFUTED, NOT_REACHED, INCONCLUSIVE, REACHED, BETTER_THAN_CLASS)
OK = (REACHED, BETTER_THAN_CLASS)  # what a model check passes with
CLASS_NAME = "Γ-predictors ŷ = gᵀΓx_q (the class Γ* is optimal over)"


@dataclass
class Interval:
    mean: float
    se: float
    lo: float
    hi: float

    @classmethod
    def of(cls, values: torch.Tensor, z: float) -> "Interval":
        m, se = float(values.mean()), float(values.std() / math.sqrt(values.numel())) if values.numel() > 1 else math.inf
        return cls(m, se, m - z * se, m + z * se)

    @classmethod
    def pooled(cls, parts: list[tuple[int, float, float]], z: float) -> "Interval":
        """(size, mean, SE) of independent chunks -> the pooled mean with its SE."""
        N = sum(b for b, _, _ in parts)
        m = sum(b * mu for b, mu, _ in parts) / N
        se = math.sqrt(sum((b / N) ** 2 * s * s for b, _, s in parts))
        return cls(m, se, m - z * se, m + z * se)


@dataclass
class Point:
    """Everything measured at one n (what `iclgd check --json` prints per n)."""

    n: int
    verdict: str
    why: str
    risk: Interval  # the model's risk E(ŷ − y_q)² and its interval
    loss_star: float  # the claim's L*
    risk_star: Interval  # Γ*'s measured risk on the same prompts
    gap: Interval  # paired Δ = risk − risk of Γ*
    gap_relative: list  # [lo, hi] / L*
    bayes_risk: Optional[Interval]  # Rao-Blackwellised Bayes risk of the law (None: no closed-form posterior)
    bayes_gap: Optional[Interval]  # paired excess over the posterior mean
    baselines: dict  # name -> Interval (risk on the same prompts)
    in_class: bool
    unexplained_fraction: Optional[float]  # of the Γ-fit of the model's output (None: not identified)
    gamma_fit: Optional[list]  # Γ̂ (d, d): least squares of ŷ over g ⊗ x_q
    gamma_fit_gap: Optional[Interval]  # Γ̂'s own paired gap over Γ* (the refutation's second half)
    gamma_star: list
    gamma_rel_error: Optional[float]  # ‖Γ_eff − Γ*‖_F / ‖Γ*‖_F (in the class)
    prompts: int


@dataclass
class ModelReport:
    model: str
    claim: str
    setting: dict  # the Setting at the first n
    ns: list
    device: str
    seed: int
    prompts: int
    margin: float
    z_interval: float
    z_refute: float
    floor: float  # relative output resolution (× L*)
    model_class: dict  # declared / weights / how decided
    gamma_weights: Optional[list]  # Γ read from exposed weights
    points: list
    verdict: str
    checks: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every n reached the claim's optimum or beat its class (a model check's pass)."""
        return self.verdict in OK

    def to_json(self) -> dict:
        out = asdict(self)
        out["checks"] = [c.to_json() for c in self.checks]
        out["ok"] = self.ok
        return out

    def summary(self) -> str:
        bad = [p for p in self.points if p.verdict == self.verdict] or self.points
        p = bad[0]
        return (f"{self.model} on {self.claim}: {self.verdict} (n={p.n}: risk {p.risk.mean:.5g} ± {p.risk.se:.2g}, "
                f"L* {p.loss_star:.5g}, gap {p.gap.mean:+.3g} in [{p.gap.lo:+.3g}, {p.gap.hi:+.3g}], "
                f"margin {self.margin:.3g}·L*) — {p.why}")


# ---- sampling and predictors ---------------------------------------------------------------
def _chunk_seed(seed: int, n: int, k: int) -> int:
    """A 63-bit seed for chunk k at n, so every chunk replays alone (and regenerates on any device)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{n}:{k}".encode()).digest()[:8], "big") >> 1


def _gamma_out(g: torch.Tensor, G, xq: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ba,ac,bc->b", g, torch.as_tensor(G).to(g), xq)  # (B,)


def bayes_predictions(p: Prompts, Sigma_w, mean, sigma2: float) -> torch.Tensor:
    """x_qᵀE[w | context] (B,) for w ~ N(β, Σ_w): the posterior mean with noise
    (:func:`iclgd.empirics.predictors.posterior_mean_predictions`), and for σ² = 0 its limit, the conditional
    mean given the exact constraints Xw = y: β + Σ_w Xᵀ(X Σ_w Xᵀ)⁺(y − Xβ)."""
    if sigma2 > 0:
        return posterior_mean_predictions(p.X, p.y, Sigma_w, mean, sigma2)
    n, d = p.n, p.X.shape[-1]
    X, y, xq = p.X[:, :n], p.y[:, :n], p.X[:, n]  # (B, n, d), (B, n), (B, d)
    Sw = torch.eye(d, dtype=X.dtype, device=X.device) if Sigma_w is None else torch.as_tensor(Sigma_w).to(X)
    b = torch.zeros(d, dtype=X.dtype, device=X.device) if mean is None else torch.as_tensor(mean).to(X)
    K = X @ Sw @ X.mT  # (B, n, n)
    r = (y - X @ b)[..., None]  # (B, n, 1)
    w = b + (Sw @ X.mT @ (torch.linalg.pinv(K, hermitian=True) @ r))[..., 0]  # (B, d)
    return (w * xq).sum(-1)


def conditional_bayes_risk(p: Prompts, Sigma_w: torch.Tensor, sigma2: float) -> torch.Tensor:
    """E[(y_q − E(y_q | context))² | context] per prompt (B,), σ² > 0: σ² + x_qᵀ Cov(w | D) x_q with
    Cov(w | D) = σ² (XᵀX + σ² Σ_w⁻¹)⁻¹ — the primal (d × d) form of
    :func:`iclgd.empirics.relaxation.ridge_bayes_risk`'s dual (n × n) one, O(d³) per prompt instead of O(n³);
    its mean is the Bayes risk, Rao-Blackwellised (no y_q noise in it)."""
    n = p.n
    X, xq = p.X[:, :n], p.X[:, n]  # (B, n, d), (B, d)
    A = X.mT @ X + sigma2 * torch.linalg.inv(Sigma_w.to(X))  # (B, d, d)
    L = torch.linalg.cholesky(A)
    u = torch.linalg.solve_triangular(L, xq[..., None], upper=False)[..., 0]  # (B, d): L⁻¹ x_q
    return sigma2 * (1 + u.square().sum(-1))


def _gamma_fit(g: torch.Tensor, xq: torch.Tensor, yhat: torch.Tensor, chunk: int):
    """Least squares of ŷ over the Γ features g_a x_{q,c} (streamed normal equations, equilibrated):
    Γ̂ (d, d) with ŷ ≈ gᵀΓ̂x_q, or None when the d² features are not identified by these prompts.
    Fitted on the first max(16 d², 4096) prompts (the rest are held out: the residual and Γ̂'s gap are
    measured on all of them); :func:`iclgd.empirics.models.fit_gamma` solves one dense batch (N × d²)
    where this streams the normal equations."""
    N, d = g.shape
    K = d * d
    if K > MAX_GAMMA_FEATURES or N < 4 * K:
        return None
    N = min(N, max(FIT_PROMPTS_PER_FEATURE * K, 4096))  # the rest of the prompts are held out from the fit
    FtF = torch.zeros(K, K, dtype=g.dtype, device=g.device)
    Fty = torch.zeros(K, dtype=g.dtype, device=g.device)
    for i in range(0, N, chunk):
        F = (g[i:i + chunk, :, None] * xq[i:i + chunk, None, :]).reshape(-1, K)  # (b, d²)
        FtF += F.mT @ F
        Fty += F.mT @ yhat[i:i + chunk]
    s = FtF.diagonal().sqrt()
    if not bool((s > 0).all()):
        return None
    G = FtF / s[:, None] / s[None, :]  # unit diagonal
    lam = torch.linalg.eigvalsh(G)
    if not lam[0] > K * torch.finfo(G.dtype).eps * lam[-1] * 1e3:
        return None
    return (torch.linalg.solve(G, Fty / s) / s).reshape(d, d)


# ---- the check -------------------------------------------------------------------------------
def check_model(
    model: ExternalModel,
    claim_id: str,
    setting: Setting,
    ns: Optional[list] = None,
    *,
    device="cpu",
    prompts: int = DEFAULT_PROMPTS,
    batch: int = DEFAULT_BATCH,
    seed: int = 0,
    margin: float = MARGIN,
    model_class: str = "auto",
    progress: Optional[Callable[[int, int], None]] = None,
) -> ModelReport:
    """Check ``model`` against ``claim_id`` at ``setting`` (for each n of ``ns``, default setting.n).

    Returns the report; its ``checks`` are unrecorded :class:`~iclgd.properties.checks.Check`\\ s under
    the claim (the fixture records them for the harness). Raises SettingError naming ``claim`` when the
    claim has no Γ* or no data law, and :class:`~iclgd.empirics.external.ModelError` for a bad model.
    """
    if model_class not in ("auto", "lsa", "other"):
        raise SettingError("model_class", f"expected auto, lsa or other, got {model_class!r}")
    if not (isinstance(prompts, int) and prompts >= 2):
        raise SettingError("prompts", f"must be an integer >= 2, got {prompts!r}")
    if not (isinstance(batch, int) and batch >= 1):
        raise SettingError("batch", f"must be an integer >= 1, got {batch!r}")
    if not (isinstance(margin, (int, float)) and 0 <= margin < 1):
        raise SettingError("margin", f"must be in [0, 1), got {margin!r}")
    claim = get_claim(claim_id)
    ns = list(ns) if ns else [setting.n]
    device = torch.device(device)
    d = setting.d
    z_int = z_crit(len(ns), INTERVAL_ALPHA)
    z_ref = z_crit(2 * len(ns), per_check_alpha("trained"))
    declared = model_class if model_class != "auto" else declared_class(model)
    weights = exposed_gamma(model, d)
    settings = []
    for n in ns:  # validate the whole grid before drawing anything
        s = claim.validate(setting.replace(n=int(n)))
        pred = claim.predict(s, exact=False)
        if pred.gamma is None or np.shape(pred.gamma) != (d, d):
            raise SettingError("claim", f"{claim_id} predicts no Γ* to compare a model's outputs with; choose a "
                               "claim with a Γ prediction (`iclgd claims`)")
        settings.append((s, pred, sampler_args(claim_id, s)))
    chunks = [(k, min(batch, prompts - k * batch)) for k in range(math.ceil(prompts / batch))]
    total, done = len(ns) * len(chunks), 0
    points, checks = [], []
    for s, pred, law in settings:
        n = s.n
        try:
            lin = linear_law_args(claim_id, s)
        except ValueError:
            lin = None  # a nonlinear target: no closed-form posterior mean
        cols: dict[str, list] = {k: [] for k in ("yq", "yhat", "ystar", "ybayes", "bayes_risk", "g", "xq")}
        base: dict[str, list] = {"ols": [], "averaging": [], "bayes": []}
        for k, b in chunks:
            p = sample_prompts(b, n, d, generator=generator(_chunk_seed(seed, n, k), device), device=device,
                               dtype=torch.float64, **law)
            X, y, xq = p.X[:, :n], p.y[:, :n], p.X[:, n]  # (b, n, d), (b, n), (b, d)
            g = torch.einsum("bi,bia->ba", y, X) / n  # (b, d)
            cols["yq"].append(p.y[:, n].clone())  # copies: a view would keep the whole chunk alive
            cols["yhat"].append(model(X, y, xq))
            cols["ystar"].append(_gamma_out(g, pred.gamma, xq))
            cols["g"].append(g)
            cols["xq"].append(xq.clone())
            base["ols"].append((b, *ols_loss(p)))
            base["averaging"].append((b, *gamma_loss(p, torch.eye(d, dtype=torch.float64))))
            if lin is not None:
                s2 = float(lin["sigma2"])
                cols["ybayes"].append(bayes_predictions(p, lin["Sigma_w"], lin.get("mean"), s2))
                Sw = torch.eye(d, dtype=torch.float64) if lin["Sigma_w"] is None else torch.as_tensor(lin["Sigma_w"])
                if s2 > 0:
                    cols["bayes_risk"].append(conditional_bayes_risk(p, Sw, s2))
                else:  # the noiseless limit: the dual (n × n) form with a pseudo-inverse
                    base["bayes"].append((b, *ridge_bayes_risk(p, Sw, s2)))
            done += 1
            if progress is not None:
                progress(done, total)
        c = {k: torch.cat(v) for k, v in cols.items() if v}
        point, cks = _compare(model, claim_id, s, pred, c, base, declared, weights, batch, z_int, z_ref, margin,
                              seed, len(ns))
        points.append(point)
        checks += cks
    verdict = next(v for v in ORDER if any(p.verdict == v for p in points))
    info = {"declared": declared, "declared_by": ("--model-class" if model_class != "auto" else
                                                  f"attribute {type(model.obj).__name__}.iclgd_class" if declared else None),
            "weights": weights[2] if weights else None, "weights_nuisance_norm": weights[1] if weights else None,
            "class": CLASS_NAME, "decided_by": f"outputs: unexplained fraction of the Γ-fit ≤ {GAMMA_FIT_TOL:g}",
            "in_class": [p.n for p in points if p.in_class]}
    return ModelReport(
        model=model.name, claim=claim_id, setting=setting.replace(n=int(ns[0])).to_json(), ns=[int(n) for n in ns],
        device=str(device), seed=seed, prompts=prompts, margin=margin, z_interval=z_int, z_refute=z_ref,
        floor=finite_floor(model.out_dtype), model_class=info,
        gamma_weights=weights[0].tolist() if weights else None, points=points, verdict=verdict, checks=checks)


def _below(iv: Interval, floor: float) -> float:
    """How far below 0 the mean is, in SEs, beyond ``floor`` (0 when not below; ∞ when exact and below)."""
    excess = -(iv.mean + floor)
    if excess <= 0:
        return 0.0
    return excess / iv.se if iv.se > 0 else math.inf


def _compare(model, claim_id, s, pred, c, base, declared, weights, chunk, z_int, z_ref, margin, seed, grid):
    n, L = s.n, float(pred.loss)
    yq, yhat, ystar = c["yq"], c["yhat"], c["ystar"]
    sq = (yhat - yq).square()
    risk = Interval.of(sq, z_int)
    risk_star = Interval.of((ystar - yq).square(), z_int)
    gap = Interval.of(sq - (ystar - yq).square(), z_int)
    floor = finite_floor(model.out_dtype) * L
    bayes_gap = bayes_risk = None
    baselines = {k: Interval.pooled(v, z_int) for k, v in base.items() if v and k != "bayes"}
    if "ybayes" in c:
        eb = (c["ybayes"] - yq).square()
        bayes_gap = Interval.of(sq - eb, z_int)
        bayes_risk = Interval.of(c["bayes_risk"], z_int) if "bayes_risk" in c else Interval.pooled(base["bayes"], z_int)
        baselines["ridge"] = Interval.of(eb, z_int)
    # the class, from the model's own outputs
    G_hat = _gamma_fit(c["g"], c["xq"], yhat, chunk)
    frac = gfit_gap = None
    if G_hat is not None:
        y_fit = _gamma_out(c["g"], G_hat, c["xq"])
        frac = float((yhat - y_fit).square().sum() / yhat.square().sum().clamp_min(torch.finfo(torch.float64).tiny))
        gfit_gap = Interval.of((y_fit - yq).square() - (ystar - yq).square(), z_int)
    in_class = declared != "other" and frac is not None and frac <= GAMMA_FIT_TOL
    G_eff = weights[0] if weights is not None and in_class else (G_hat if in_class else None)
    g_err = (float(np.linalg.norm(np.asarray(G_eff) - pred.gamma) / np.linalg.norm(pred.gamma))
             if G_eff is not None and np.linalg.norm(pred.gamma) > 0 else None)
    info = {**s.to_json(), "model": model.name, "seed": seed, "prompts": int(yq.numel()), "in_class": in_class,
            "unexplained_fraction": frac}
    m = margin * L
    # (1) below the class optimum: refutation inside the class, better-than-class outside it
    z_model = _below(gap, floor)
    z_fit = _below(gfit_gap, floor) if gfit_gap is not None else 0.0
    why_z = (f"one-sided z={z_ref:.2f} (trained-family level {per_check_alpha('trained'):.1e}, Bonferroni over "
             f"{grid} n × 2 checks) on the paired per-prompt excess over Γ*'s output, {int(yq.numel())} prompts, "
             f"beyond a floor of {finite_floor(model.out_dtype):.1e}·L* (1000 ε of the output dtype)")
    if in_class:
        c1 = Check(claim_id, "no Γ-predictor below L* (paired excess of the model and of its fitted Γ̂ over Γ*'s output)",
                   0.0, gap.mean, min(z_model, z_fit), z_ref, why_z + "; refutes only if the fitted Γ̂ is below too",
                   {**info, "gamma_fit": G_hat.tolist(), "gamma_fit_gap": gfit_gap.mean}, "hold")
    else:
        c1 = Check(claim_id, f"model outside the class of {claim_id}'s optimum vs L* (paired excess over Γ*'s output)",
                   0.0, gap.mean, z_model, z_ref, why_z, info, "class")
    # (2) reaches L* within the margin: the gap's interval against margin · L*
    straddle = gap.lo <= m < gap.hi
    c2 = Check(claim_id, f"model reaches L* (paired gap ≤ {margin:g}·L*)", 0.0, gap.mean / L,
               gap.hi / L, margin,
               f"upper end of the two-sided {1 - INTERVAL_ALPHA:.1%} interval (z={z_int:.2f}, Bonferroni over {grid} n) "
               f"of the paired gap vs the margin {margin:g}·L* (the trained tier's basin threshold)", info, "reach",
               inconclusive=(f"the gap's interval [{gap.lo / L:+.2e}, {gap.hi / L:+.2e}]·L* straddles the margin "
                             f"{margin:g}·L*: detectable at this SE ({gap.se / L:.1e}·L*) is a gap beyond "
                             f"{margin + 2 * z_int * gap.se / L:.2e}·L*; more prompts decide") if straddle else "")
    cks = [c1, c2]
    # (3) not below the Bayes risk of the law (any predictor)
    if bayes_gap is not None:
        cks.append(Check(claim_id, "model risk ≥ Bayes risk of the law (paired excess over the posterior mean)",
                         0.0, bayes_gap.mean, _below(bayes_gap, floor), z_ref,
                         why_z.replace("Γ*'s output", "x_qᵀE[w | context]"), info, "bayes"))
    v = [ck.verdict for ck in cks]
    if len(v) > 2 and v[2] == BELOW_BAYES:
        verdict, why = BELOW_BAYES, (f"its risk is below the Bayes risk {bayes_risk.mean:.5g} by {-bayes_gap.mean:.3g} "
                                     f"(z {cks[2].error:.1f} > {z_ref:.2f}): no predictor can be; the evaluation is wrong "
                                     "or the model sees y_q")
    elif v[0] == REFUTED:
        verdict, why = REFUTED, (f"a Γ-predictor (Γ̂ fitted to its outputs, unexplained {frac:.1e}) is below L* by "
                                 f"{-gap.mean:.3g} (z {c1.error:.1f} > {z_ref:.2f}): a counterexample to {claim_id}")
    elif v[0] == BETTER_THAN_CLASS:
        verdict, why = BETTER_THAN_CLASS, (f"below L* by {-gap.mean:.3g} (z {c1.error:.1f}) but outside the class "
                                           f"(unexplained Γ-fit fraction {_fmt(frac)}): better than any Γ-predictor, "
                                           "no refutation")
    elif c2.verdict == INCONCLUSIVE:
        verdict, why = INCONCLUSIVE, c2.inconclusive
    elif c2.verdict == NOT_REACHED:
        verdict, why = NOT_REACHED, (f"gap {gap.mean:.3g} in [{gap.lo:.3g}, {gap.hi:.3g}] above the margin "
                                     f"{margin:g}·L* = {m:.3g}")
    else:
        assert c2.verdict == HELD
        verdict, why = REACHED, f"gap {gap.mean:+.3g} in [{gap.lo:+.3g}, {gap.hi:+.3g}] ≤ margin {m:.3g}"
    point = Point(n=n, verdict=verdict, why=why, risk=risk, loss_star=L, risk_star=risk_star, gap=gap,
                  gap_relative=[gap.lo / L, gap.hi / L], bayes_risk=bayes_risk, bayes_gap=bayes_gap, baselines=baselines,
                  in_class=in_class, unexplained_fraction=frac, gamma_fit=None if G_hat is None else G_hat.tolist(),
                  gamma_fit_gap=gfit_gap, gamma_star=np.asarray(pred.gamma).tolist(), gamma_rel_error=g_err,
                  prompts=int(yq.numel()))
    return point, cks


def _fmt(x) -> str:
    return "not identified" if x is None else f"{x:.2e}"


def plot(report: ModelReport, path) -> str:
    """Figure: risk vs n (model, L*, Bayes, baselines; when a grid) and heatmaps of the effective Γ
    beside Γ* at the largest n in the class. Needs matplotlib (the ``plot`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = report.points
    inside = [p for p in pts if p.in_class] or (pts if report.gamma_weights is not None else [])
    heat = inside[-1] if inside else None  # in the class, or an LSA whose weights give its Γ
    G_eff = None
    if heat is not None:
        G_eff = np.asarray(report.gamma_weights if report.gamma_weights is not None else heat.gamma_fit)
    ncols = (1 if len(pts) > 1 else 0) + (3 if heat is not None else 0)
    if ncols == 0:  # one n, outside the class: the risks as bars
        ncols = 1
    fig, axes = plt.subplots(1, ncols, figsize=(4.2 * ncols, 3.6), squeeze=False)
    axes = list(axes[0])
    if len(pts) > 1 or heat is None:
        ax = axes.pop(0)
        ns = [p.n for p in pts]
        ax.errorbar(ns, [p.risk.mean for p in pts], yerr=[p.risk.hi - p.risk.mean for p in pts], fmt="o-", ms=3,
                    label="model", color="C0")
        ax.plot(ns, [p.loss_star for p in pts], "k--", label="L* (claim)")
        if all(p.bayes_risk is not None for p in pts):
            ax.plot(ns, [p.bayes_risk.mean for p in pts], ":", color="C2", label="Bayes risk")
        for i, name in enumerate(("averaging", "ols")):
            if all(name in p.baselines for p in pts):
                ax.plot(ns, [p.baselines[name].mean for p in pts], "-", lw=0.8, alpha=0.6, color=f"C{3 + i}", label=name)
        ax.set_xlabel("n")
        ax.set_ylabel("risk E(ŷ − y)²")
        ax.set_yscale("log")
        ax.set_title(f"{report.claim}: {report.verdict}")
        ax.legend(fontsize=7)
    if heat is not None:
        G_star = np.asarray(heat.gamma_star)
        lim = float(max(np.abs(G_eff).max(), np.abs(G_star).max())) or 1.0
        lim_d = float(np.abs(G_eff - G_star).max()) or lim  # the difference on its own symmetric scale
        for ax, M, title, s in zip(axes, (G_eff, G_star, G_eff - G_star), ("effective Γ", "Γ* (claim)", "Γ − Γ*"),
                                   (lim, lim, lim_d)):
            im = ax.imshow(M, cmap="RdBu_r", vmin=-s, vmax=s)
            ax.set_title(f"{title} (n={heat.n})")
            fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)
