"""Claim registry: one object per claim that derivations, checks, reports and records cite."""
from __future__ import annotations

import math
import os
import sys
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

    gamma: Optional[np.ndarray]  # (d, d) optimal Γ*; None for a claim about a risk only
    eta: Optional[float]  # scalar when Γ* = η I or η Σ⁻¹, else None
    loss: float  # optimal population loss L* (or the claim's risk)
    exact: Optional[dict] = None  # sympy strings of Γ*, η, L* when inputs are rational
    error: float = 0.0  # bound on the numeric error of η, L*, Γ* entries (0: closed form)
    values: Optional[dict] = None  # the claim's other named quantities (its `iclgd predict --json` keys)

    def to_json(self) -> dict:
        out = {
            "gamma": None if self.gamma is None else np.asarray(self.gamma).tolist(),
            "eta": self.eta,
            "loss": self.loss,
            "exact": self.exact,
            "error": self.error,
        }
        for k, v in (self.values or {}).items():
            if k in out:
                raise ValueError(f"values: {k!r} would overwrite a Prediction field")
            out[k] = v.tolist() if isinstance(v, np.ndarray) else v
        return out


SOURCES = ("paper", "derived", "peer", "convention")


@dataclass(frozen=True)
class Part:
    """One part of a claim's statement and where it comes from: ``paper`` (the source states it; ``where``
    names the theorem only when we have read it), ``derived`` (the suite derived it), ``peer`` (another
    paper's reading), ``convention`` (a choice the suite made where the source could not be confirmed)."""

    text: str
    source: str
    where: str = ""

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"source: {self.source!r} is not one of {', '.join(SOURCES)}")

    def to_json(self) -> dict:
        return {"text": self.text, "source": self.source, "where": self.where}


@dataclass(frozen=True)
class Param:
    """A claim's own numeric input, kept in ``Setting.extra`` under ``name`` and given on the command
    line as ``--name`` (underscores as dashes); ``parse`` validates it and names the flag on error."""

    name: str
    help: str
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False
    default: Optional[float] = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def parse(self, value):
        if isinstance(value, bool):
            raise SettingError(self.flag, f"must be a number, got {value!r}")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise SettingError(self.flag, f"must be a number, got {value!r}") from None
        if not math.isfinite(v):
            raise SettingError(self.flag, f"must be finite, got {value!r}")
        if self.integer:
            if v != int(v):
                raise SettingError(self.flag, f"must be an integer, got {value!r}")
            v = int(v)
        below = v <= self.lo if self.lo_open else v < self.lo
        above = v >= self.hi if self.hi_open else v > self.hi
        if below or above:
            lo, hi = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
            raise SettingError(self.flag, f"must lie in {lo}{self.lo:g}, {self.hi:g}{hi}, got {value!r}")
        return v


# the float-error rule `iclgd predict` states for a claim's Γ* (Claim.conditioning)
CONDITIONING = ("scalar", "cov", "cov-and-prior")
# the scale equivariance `iclgd predict`/`train` may use for extreme Σ, Σ_w (Claim.rescale):
# "prior-inverse": Σ → Σ/a with the prior Σ⁻¹ (Γ* → aΓ*, L* unchanged); "independent": Σ → Σ/a,
# Σ_w → Σ_w/b, σ² → σ²/(ab) (Γ* → aΓ*, L* → ab L*)
RESCALE = (None, "prior-inverse", "independent")
# Setting fields that only some claims read (Claim.reads); any other claim refuses them
OPTIONAL_FIELDS = {"test_n": (None, "--test-n"), "prior_scale": (None, "--prior-scale"),
                   "x_dist": ("gaussian", "--x-dist"), "mean": (None, "--mean")}


@dataclass(frozen=True)
class Claim:
    id: str
    citation: Citation
    tag: str  # [paper] / [derived] / [peer]: the claim as a whole (``parts`` tag each part)
    statement: str
    assumptions: tuple[str, ...]
    # "theorem": should hold; "overgeneralisation": registered to be refuted; "empirical": a
    # pattern measured on real pretrained models; "identity": an identity, a logical implication or a
    # construction of the suite's own, whose checks cannot fail by construction
    # (iclgd.properties.verdicts.KINDS)
    kind: str = "theorem"
    predict_fn: Optional[Callable[[Setting, bool], Prediction]] = None
    distribution_fn: Optional[Callable[[Setting], Distribution]] = None
    validate_fn: Optional[Callable[[Setting], None]] = None
    extra: dict = field(default_factory=dict)
    parts: tuple = ()  # Part, ...: the statement split by source
    reads: tuple = ()  # OPTIONAL_FIELDS this claim reads
    params: tuple = ()  # Param, ...: its own inputs, in Setting.extra
    conditioning: str = "scalar"
    rescale: Optional[str] = None
    exact_bytes_per_entry: int = 250  # memory of the exact d×d closed form, per entry (predict's pre-flight)
    package: str = "iclgd"  # the distribution that registered it

    def __post_init__(self):
        if self.conditioning not in CONDITIONING:
            raise ValueError(f"conditioning: {self.conditioning!r} is not one of {', '.join(CONDITIONING)}")
        if self.rescale not in RESCALE:
            raise ValueError(f"rescale: {self.rescale!r} is not one of {RESCALE}")
        for f in self.reads:
            if f not in OPTIONAL_FIELDS:
                raise ValueError(f"reads: {f!r} is not one of {', '.join(OPTIONAL_FIELDS)}")
        for p in self.parts:
            if not isinstance(p, Part):
                raise TypeError(f"parts: {type(p).__name__} is not a Part")
        for p in self.params:
            if not isinstance(p, Param):
                raise TypeError(f"params: {type(p).__name__} is not a Param")

    def param(self, setting: Setting, name: str):
        """The value of this claim's parameter ``name`` in ``setting`` (its default when absent)."""
        spec = next((p for p in self.params if p.name == name), None)
        if spec is None:
            raise KeyError(f"{self.id} declares no parameter {name!r}")
        v = dict(setting.extra).get(name, spec.default)
        if v is None:
            raise SettingError(spec.flag, f"{self.id} needs {spec.flag} ({spec.help})")
        return spec.parse(v)

    def validate(self, setting: Setting) -> Setting:
        """Raise SettingError if ``setting`` violates this claim's assumptions or sets an input the claim
        does not read (an optional field or a parameter of another claim)."""
        for name, (default, flag) in OPTIONAL_FIELDS.items():
            if getattr(setting, name) != default and name not in self.reads:
                users = [c.id for c in REGISTRY.values() if name in c.reads]
                raise SettingError(name, f"{self.id} does not take {flag} (claims that do: {', '.join(users)})")
        mine = {p.name for p in self.params}
        for k, v in setting.extra:
            if k not in mine:
                raise SettingError("--" + k.replace("_", "-"), f"{self.id} does not take this input"
                                   + (f" (it takes {', '.join(sorted(mine))})" if mine else ""))
        for p in self.params:
            self.param(setting, p.name)
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
    scaled = {k: v * (1 + eps) if isinstance(v, (int, float, np.ndarray)) and not isinstance(v, bool) else v
              for k, v in (p.values or {}).items()}
    return replace(p, gamma=None if p.gamma is None else p.gamma * (1 + eps),
                   eta=None if p.eta is None else p.eta * (1 + eps), loss=p.loss * (1 + eps), exact=None,
                   values=scaled or p.values)


REGISTRY: dict[str, Claim] = {}


def register(claim: Claim) -> Claim:
    if not isinstance(claim, Claim):
        raise TypeError(f"register: a {type(claim).__name__} is not an iclgd Claim")
    if claim.id in REGISTRY:
        raise ValueError(f"claim id {claim.id!r} is already taken (by {REGISTRY[claim.id].package})")
    REGISTRY[claim.id] = claim
    return claim


@dataclass(frozen=True)
class Curve:
    """One line of a theory figure in the report: the claim's predicted loss (one ``Claim.predict`` per point)
    at ``make(x)`` for x in ``xs``; lines with the same ``figure`` share its axes. Declared beside the claim
    (theory/papers), so the report names no claim and draws them without the checks' stack."""

    figure: str  # PNG file name
    label: str
    claim: str
    xs: tuple
    make: Callable  # x -> Setting
    xlabel: str
    style: str = "-"
    vline: Optional[float] = None  # a reference x (e.g. the training length)


CURVES: list[Curve] = []


def register_curve(c: Curve) -> Curve:
    CURVES.append(c)
    return c


PLUGIN_ERRORS: list[str] = []  # one line per package whose claims were left out


def entry_points_of(group: str):
    from importlib.metadata import entry_points

    return sorted(entry_points(group=group), key=lambda ep: (ep.dist.name if ep.dist else "", ep.name))


def warn_plugin(package: str, what: str, error: BaseException) -> str:
    """One warning line on stderr naming the package left out and why; returns the line."""
    line = f"iclgd: warning: {what} of package {package!r} left out: {type(error).__name__}: " + \
        " ".join(str(error).split())[:200]
    print(line, file=sys.stderr)
    return line


def load_entry_points() -> None:
    """Register the claims of other packages (entry-point group ``iclgd.claims``: an attribute holding a
    sequence of Claims, or a callable returning one). A package that fails to import, holds something
    other than Claims, or takes an id already registered is named in one warning line and left out
    whole; every other claim still registers."""
    for ep in entry_points_of("iclgd.claims"):
        pkg = ep.dist.name if ep.dist is not None else ep.value
        try:
            obj = ep.load()
            items = list(obj() if callable(obj) else obj)
            for c in items:
                if not isinstance(c, Claim):
                    raise TypeError(f"{ep.value} holds a {type(c).__name__}, not an iclgd Claim")
                if c.id in REGISTRY:
                    raise ValueError(f"claim id {c.id!r} is already taken (by {REGISTRY[c.id].package})")
            if len({c.id for c in items}) != len(items):
                raise ValueError(f"{ep.value} registers one id twice")
        except Exception as e:  # a broken package never stops the others
            PLUGIN_ERRORS.append(warn_plugin(pkg, "claims", e))
            continue
        for c in items:
            register(replace(c, package=pkg) if c.package == "iclgd" else c)


def get_claim(claim_id: str) -> Claim:
    try:
        return REGISTRY[claim_id]
    except KeyError:
        raise SettingError("claim", f"unknown claim {claim_id!r}; known: {', '.join(REGISTRY)}") from None
