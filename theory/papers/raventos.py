"""Raventós, Paul, Chen & Ganguli (NeurIPS 2023), "Pretraining task diversity and the emergence of
non-Bayesian in-context learning for regression": pretraining on M fixed tasks w_1..w_M ~ N(0, I); the
discrete posterior mean (dMMSE) over that set is the Bayes predictor for the pretraining distribution, and
at small M it is far worse than ridge regression on fresh tasks (the abstract: below a task-diversity
threshold the transformer behaves like this Bayesian estimator; above it, like ridge).

Raventos-dMMSE (the ordering, derived from Bayes optimality): x ~ N(0, I_d), y = wᵀx + N(0, σ²), σ² > 0;
dMMSE(prompt) = Σ_m p(m | prompt) w_m with p(m | prompt) ∝ exp(−‖y − Xw_m‖²/(2σ²)); ridge = (XᵀX + σ²I)⁻¹Xᵀy.
On prompts whose task is drawn uniformly from the set, risk(dMMSE) ≤ risk(ridge); on fresh w ~ N(0, I),
risk(ridge) ≤ risk(dMMSE). A Monte Carlo ordering (``iclgd verify --claims Raventos-dMMSE``). The task set
is a choice of the suite: w_m = row m of numpy's default_rng(``--task-seed``).standard_normal((M, d)),
M = ``--tasks``. At M = 1 the task-set Bayes risk is σ² exactly (the posterior is a point mass), and for d = 1
ridge's risk on a fixed w is σ² + E_S[(σ⁴w² + σ²S)/(S + σ²)²], S ~ χ²_n (derived; quadrature).
"""
from __future__ import annotations

import numpy as np

from iclgd.theory.claims import Citation, Claim, Param, Part, register
from iclgd.theory.errors import SettingError
from iclgd.theory.papers.vladymyrov import _chi2_expect
from iclgd.theory.setting import Setting

PAPER = dict(
    authors="Allan Raventós and Mansheej Paul and Feng Chen and Surya Ganguli",
    title="Pretraining task diversity and the emergence of non-Bayesian in-context learning for regression",
    venue="Advances in Neural Information Processing Systems (NeurIPS)", year=2023,
    url="https://arxiv.org/abs/2306.15063", bibkey="raventos2023pretraining")

PARAMS = (Param("tasks", "M, the number of fixed pretraining tasks (integer ≥ 1)", lo=1, hi=4096, integer=True,
                default=4),
          Param("task_seed", "seed of the task set w_m = default_rng(seed).standard_normal((M, d))", lo=0, hi=2**32 - 1,
                integer=True, default=0))


def task_set(s: Setting, claim: Claim) -> np.ndarray:
    """(M, d) the fixed tasks."""
    M, seed = claim.param(s, "tasks"), claim.param(s, "task_seed")
    return np.random.default_rng(seed).standard_normal((M, s.d))


def ridge_risk_fixed_w_1d(n: int, sigma2: float, w: float) -> float:
    """d = 1: risk of ridge (λ = σ²) on a fixed task w, x_q ~ N(0, 1): σ² + E_S[(σ⁴w² + σ²S)/(S + σ²)²]."""
    return float(sigma2 + _chi2_expect(n, lambda S: (sigma2**2 * w * w + sigma2 * S) / (S + sigma2) ** 2)[0])


def _validate(claim_id: str):
    def v(s: Setting) -> None:
        for f, why in (("cov", "x ~ N(0, I)"), ("cov_w", "tasks drawn from N(0, I)")):
            if getattr(s, f) is not None:
                raise SettingError(f, f"{claim_id} assumes {why}")
        if not s.sigma2 > 0:
            raise SettingError("sigma2", f"{claim_id} needs label noise σ² > 0 (the posteriors are Gaussian likelihoods)")
        if s.target != "linear":
            raise SettingError("target", f"{claim_id} assumes linear responses")
    return v


_ASSUME = ("x_i, x_q ~ N(0, I_d) i.i.d.", "y = wᵀx + ε, ε ~ N(0, σ²), σ² > 0",
           "M fixed tasks w_m ~ N(0, I_d) (--tasks, --task-seed); task-set prompts draw w uniformly from them, "
           "fresh prompts draw w ~ N(0, I_d)")
register(Claim(
    id="Raventos-dMMSE", citation=Citation(**PAPER, theorem="dMMSE vs ridge (abstract)"), tag="[derived]",
    statement="M fixed tasks: the discrete posterior mean over the task set (dMMSE) has risk ≤ ridge (λ = σ²) on task-set "
    "prompts (it is Bayes there), and ridge has risk ≤ dMMSE on fresh N(0, I) tasks (ridge is Bayes there).",
    assumptions=_ASSUME, kind="theorem", validate_fn=_validate("Raventos-dMMSE"), params=PARAMS,
    parts=(Part("below a task-diversity threshold, ICL approaches the Bayes estimator of the pretraining task "
                "distribution (dMMSE), far worse than ridge on new tasks", "paper", "abstract"),
           Part("both orderings, from the Bayes optimality of dMMSE (task set) and ridge (fresh tasks)", "derived"),
           Part("the task set drawn by numpy default_rng(--task-seed); ridge λ = σ² (w ~ N(0, I))", "convention")),
))
register(Claim(
    id="Raventos-ridge-finite", citation=Citation(**PAPER, theorem="over-generalisation: ridge is Bayes everywhere"),
    tag="[derived]",
    statement="Over-generalisation, expected to be refuted: ridge regression (λ = σ²) is Bayes-optimal on the finite "
    "task set too.",
    assumptions=_ASSUME, kind="overgeneralisation", validate_fn=_validate("Raventos-ridge-finite"), params=PARAMS,
    parts=(Part("ridge's Bayes optimality carried over from the Gaussian task prior to a finite task set", "derived"),),
))
