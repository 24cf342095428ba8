"""Claim registry: one object per claim that derivations, checks, reports and records cite."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

import numpy as np

from .errors import SettingError
from .setting import Setting


@dataclass(frozen=True)
class Citation:
    authors: str
    title: str
    venue: str
    year: int
    theorem: str
    url: str = ""
    bibkey: str = ""

    def short(self) -> str:
        first = self.authors.split(",")[0].split(" and ")[0].strip().split()[-1]
        return f"{first} et al. {self.year}, {self.theorem}"


MAHANKALI = dict(
    authors="Arvind Mahankali and Tatsunori B. Hashimoto and Tengyu Ma",
    title="One Step of Gradient Descent is Provably the Optimal In-Context Learner "
    "with One Layer of Linear Self-Attention",
    venue="International Conference on Learning Representations (ICLR)",
    year=2024,
    url="https://arxiv.org/abs/2307.03576",
    bibkey="mahankali2024onestep",
)
SHEN = dict(
    authors="Lingfeng Shen and Aayush Mishra and Daniel Khashabi",
    title="Position: Do pretrained Transformers Learn In-Context by Gradient Descent?",
    venue="International Conference on Machine Learning (ICML)",
    year=2024,
    url="https://arxiv.org/abs/2310.08540",
    bibkey="shen2024position",
)

AHN = dict(
    authors="Kwangjun Ahn and Xiang Cheng and Hadi Daneshmand and Suvrit Sra",
    title="Transformers learn to implement preconditioned gradient descent for in-context learning",
    venue="Advances in Neural Information Processing Systems (NeurIPS)",
    year=2023,
    url="https://arxiv.org/abs/2306.00297",
    bibkey="ahn2023transformers",
)


@dataclass(frozen=True)
class Distribution:
    """The data law a claim speaks about: x ~ N(0, Σ) (or i.i.d. U(−a, a) coordinates, ``x_dist``),
    w ~ N(β, Σ_w) (β = ``mean``, None = 0), y = f(x) + N(0, σ²)."""

    Sigma: np.ndarray  # (d, d); the identity when x_dist is uniform (x's law is then x_dist alone)
    Sigma_w: np.ndarray  # (d, d)
    sigma2: float
    target: str  # "linear" or an M3 target spec
    x_dist: str = "gaussian"  # "gaussian" or "uniform:a" (Setting.x_dist)
    mean: Optional[tuple] = None  # β, the prior mean of w (Setting.mean)


@dataclass(frozen=True)
class Prediction:
    """What a claim predicts for a Setting (Γ in the convention ŷ = gᵀ Γ x_q)."""

    gamma: np.ndarray  # (d, d) optimal Γ*
    eta: Optional[float]  # scalar when Γ* = η I or η Σ⁻¹, else None
    loss: float  # optimal population loss L*
    exact: Optional[dict] = None  # sympy strings of Γ*, η, L* when inputs are rational
    error: float = 0.0  # bound on the numeric error of η, L*, Γ* entries (0: closed form)

    def to_json(self) -> dict:
        return {
            "gamma": self.gamma.tolist(),
            "eta": self.eta,
            "loss": self.loss,
            "exact": self.exact,
            "error": self.error,
        }


@dataclass(frozen=True)
class Claim:
    id: str
    citation: Citation
    tag: str  # [paper] / [derived] / [peer]
    statement: str
    assumptions: tuple[str, ...]
    # "theorem": should hold; "overgeneralisation": registered to be refuted; "empirical": a
    # pattern measured on real pretrained models (iclgd.properties.verdicts.KINDS)
    kind: str = "theorem"
    predict_fn: Optional[Callable[[Setting, bool], Prediction]] = None
    distribution_fn: Optional[Callable[[Setting], Distribution]] = None
    validate_fn: Optional[Callable[[Setting], None]] = None
    extra: dict = field(default_factory=dict)

    def validate(self, setting: Setting) -> Setting:
        """Raise SettingError if ``setting`` violates this claim's assumptions."""
        if self.validate_fn is not None:
            self.validate_fn(setting)
        return setting

    def predict(self, setting: Setting, exact: bool = True) -> Prediction:
        if self.predict_fn is None:
            raise SettingError("claim", f"{self.id} makes no closed-form Γ prediction")
        return _perturbed(self.id, self.predict_fn(self.validate(setting), exact))

    def distribution(self, setting: Setting) -> Distribution:
        if self.distribution_fn is None:
            raise SettingError("claim", f"{self.id} defines no data distribution")
        return self.distribution_fn(self.validate(setting))


def perturbations(text: Optional[str] = None) -> dict[str, float]:
    """``ICLGD_PERTURB="M1:0.05,M3:-0.1"``: deliberately break claims (scale Γ*, η, L* by 1 + ε) to
    show that the suite catches a wrong closed form and records it. Never set in normal runs."""
    out = {}
    text = os.environ.get("ICLGD_PERTURB", "") if text is None else text
    for part in filter(None, text.split(",")):
        cid, _, eps = part.partition(":")
        try:
            out[cid.strip()] = float(eps)
        except ValueError:
            raise SettingError("ICLGD_PERTURB", f"expected CLAIM:EPS, got {part!r}") from None
    return out


def _perturbed(claim_id: str, p: Prediction) -> Prediction:
    eps = perturbations().get(claim_id)
    if not eps:
        return p
    return replace(p, gamma=p.gamma * (1 + eps), eta=None if p.eta is None else p.eta * (1 + eps),
                   loss=p.loss * (1 + eps), exact=None)


REGISTRY: dict[str, Claim] = {}


def register(claim: Claim) -> Claim:
    if claim.id in REGISTRY:
        raise ValueError(f"claim {claim.id} registered twice")
    REGISTRY[claim.id] = claim
    return claim


def get_claim(claim_id: str) -> Claim:
    try:
        return REGISTRY[claim_id]
    except KeyError:
        raise SettingError("claim", f"unknown claim {claim_id!r}; known: {', '.join(REGISTRY)}") from None
