"""LLM probes meet Shen, Mishra & Khashabi's claims (ICML 2024): S1 (Theorem 1) and S2 (§5 pattern).

:func:`run_probe` loads a real pretrained LM and a StaICC dataset, measures ICL and each update
algorithm under O orderings (:mod:`iclgd.empirics.llm`), and returns

- a summary (the `iclgd probe` JSON): order sensitivity per method (std across orderings, the
  definition of :mod:`iclgd.theory.order`, on the full vocabulary and on the label words) with
  bootstrap intervals over test inputs; the paper's metrics for every pair ICL–variant and the
  ICL–ICL(reordered) baseline; the sparsity profile against the GD construction's requirement;
  the training trajectories and wall times;
- Checks: one S1 refutation attempt per variant (:func:`iclgd.properties.order.refute_equivalence`:
  ICL measurably more order sensitive than the variant ⇒ not equivalent, by Theorem 1) and S2 pattern
  checks (ICL–ICL(reordered) agreement ≥ ICL–variant agreement, failing only when significantly
  violated). A failing S2 check is a finding about the model: the test reports it and the harness
  records it (a counterexample record), rather than failing.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch

from iclgd.empirics.llm import (
    DEFAULT_MODEL, PAPER_EPOCHS, ProbeInputError, ProbeOutputs, collect, load_model, spec, variant,
)
from iclgd.empirics.llm.metrics import accuracy, overlap_cosine, token_overlap
from iclgd.empirics.llm.probe import no_bar
from iclgd.empirics.llm.sparsity import THRESHOLDS, sparsity_profile
from iclgd.theory import SettingError, get_claim
from iclgd.theory.order import order_sensitivity, per_input_sensitivity

from .checks import Check, check
from .order import gamma_n, refute_equivalence
from .stats import bootstrap_interval

CPU_EPOCHS = 5  # scaled-down default on CPU; the paper's 200 on CUDA
DEFAULT_VARIANTS = ("gd", "gd-mid", "gd-deep", "sgd", "adam")


@contextlib.contextmanager
def setting_errors():
    """Re-raise the probes' input errors as SettingError (the CLI turns it into one line naming --param)."""
    try:
        yield
    except ProbeInputError as e:
        raise SettingError(e.param, e.message) from None


@dataclass(frozen=True)
class ProbeConfig:
    model: str = DEFAULT_MODEL  # "smollm2", a Hugging Face directory or a .gguf file
    dataset: str = "sst2"
    shots: int = 4  # N demonstrations
    orders: int = 10  # orderings of the demonstrations (at most N!)
    test_inputs: int = 8  # test inputs, disjoint from the demonstrations
    variants: tuple[str, ...] = DEFAULT_VARIANTS
    epochs: Optional[int] = None  # None: 200 on CUDA [paper], CPU_EPOCHS on CPU
    lrs: dict = field(default_factory=dict)  # variant -> learning rate (else the variant's default)
    eval_every: Optional[int] = None  # trajectory read every this many epochs (None: epochs // 5)
    device: str = "cpu"
    dtype: Optional[str] = None  # "float32" | "bfloat16" | "float16" (None: loader's default)
    seed: int = 0  # draws the demo set, test inputs, orderings and bootstrap resamples
    k: int = 10  # Top-k of the overlap metrics [paper: 10]
    n_boot: int = 1000
    level: float = 0.99
    label_words: Optional[tuple[str, ...]] = None  # override the dataset's label words
    template: dict = field(default_factory=dict)  # override Template fields

    def resolved_epochs(self) -> int:
        if self.epochs is not None:
            return self.epochs
        return PAPER_EPOCHS if torch.device(self.device).type == "cuda" else CPU_EPOCHS

    def validate(self) -> None:
        if self.shots < 2:
            raise SettingError("shots", f"order sensitivity needs N >= 2 demonstrations, got {self.shots}")
        if self.orders < 2:
            raise SettingError("orders", f"must be >= 2, got {self.orders}")
        if self.test_inputs < 1:
            raise SettingError("test_inputs", f"must be >= 1, got {self.test_inputs}")
        if not 1 <= self.k:
            raise SettingError("k", f"must be >= 1, got {self.k}")
        if not 0 < self.level < 1:
            raise SettingError("level", f"must be in (0, 1), got {self.level}")
        if self.epochs is not None and self.epochs < 1:
            raise SettingError("epochs", f"must be >= 1, got {self.epochs}")
        if self.eval_every is not None and self.eval_every < 0:
            raise SettingError("eval_every", f"must be >= 0, got {self.eval_every}")
        try:
            torch.device(self.device)
        except RuntimeError as e:
            raise SettingError("device", str(e)) from None
        unknown = set(self.lrs) - set(self.variants)
        if unknown:
            raise SettingError("lr", f"given for variant(s) {sorted(unknown)} that are not run")


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


# ---- measures on the outputs ----------------------------------------------------------------
def _interval(values: np.ndarray, cfg_seed: int, n_boot: int, level: float) -> dict:
    values = np.asarray(values, dtype=float)
    lo, hi = bootstrap_interval(values, n_boot=n_boot, seed=cfg_seed, level=level)
    return {"value": float(values.mean()), "interval": [lo, hi]}


def sensitivity(probs: torch.Tensor, label_tokens: torch.Tensor, *, seed: int, n_boot: int, level: float) -> dict:
    """Order sensitivity of (O, I, V) distributions on the full vocabulary and on the label words,
    each with a bootstrap interval over test inputs; top-level value/interval = full vocabulary."""
    full = _interval(per_input_sensitivity(probs.double().numpy()), seed, n_boot, level)
    labels = _interval(per_input_sensitivity(probs[..., label_tokens].double().numpy()), seed, n_boot, level)
    return {**full, "full_vocab": full, "label_words": labels}


def compare(a: torch.Tensor, b: torch.Tensor, gold: torch.Tensor, names: tuple[str, str], *, k: int,
            seed: int, n_boot: int, level: float) -> dict:
    """The paper's metrics between (O, I, V) distributions a and b, row for row (per-input means over
    orderings; intervals by bootstrap over test inputs)."""
    per_input = lambda x: x.mean(0).numpy()  # noqa: E731  (O, I) -> (I,)
    acc_a, acc_b = per_input(accuracy(a, gold)), per_input(accuracy(b, gold))
    gap = _interval(acc_a - acc_b, seed, n_boot, level)
    return {
        "accuracy": {names[0]: float(acc_a.mean()), names[1]: float(acc_b.mean()), "gap": gap["value"],
                     "gap_interval": gap["interval"]},
        "token_overlap": _interval(per_input(token_overlap(a, b, k)), seed, n_boot, level),
        "overlap_cosine": {
            "union": _interval(per_input(overlap_cosine(a, b, k, "union")), seed, n_boot, level),
            "intersection": _interval(per_input(overlap_cosine(a, b, k, "intersection")), seed, n_boot, level),
        },
    }


def reordered(icl: torch.Tensor) -> torch.Tensor:
    """ICL under another ordering, row for row: ordering o is paired with ordering o+1 (mod O)."""
    return icl.roll(-1, dims=0)


def construction_sparsity(width: int) -> dict:
    """Sparsity von Oswald et al.'s one-step-GD layer needs at token width 2·``width`` (x and y each
    ``width`` wide; SHEN.md): W_K = W_Q = [[I, 0], [0, 0]] has ``width`` non-zeros of (2·width)²;
    W_V = [[0, 0], [W₀, −I]] with a dense W₀ has width² + width. (4096 → 99.9939 %, 74.994 %.)"""
    D2 = (2 * width) ** 2
    kq = 1 - width / D2
    return {"q": kq, "k": kq, "v": 1 - (width**2 + width) / D2}


def sparsity_summary(model, thresholds=THRESHOLDS) -> dict:
    prof = sparsity_profile(model, thresholds)
    need = construction_sparsity(prof["attention"]["hidden"])
    prof["requirement"] = need
    prof["meets_requirement"] = {m: [f >= need[m] for f in prof["mean"][m]] for m in ("q", "k", "v")}
    return prof


def summarize(out: ProbeOutputs, *, k: int = 10, seed: int = 0, n_boot: int = 1000, level: float = 0.99) -> dict:
    """The probe's tables (see the module docstring); JSON-able."""
    kw = dict(seed=seed, n_boot=n_boot, level=level)
    gold, labels = out.gold, out.label_tokens
    sens = {"icl": sensitivity(out.icl, labels, **kw)}
    comps = {"icl-icl_reordered": compare(out.icl, reordered(out.icl), gold, ("icl", "icl_reordered"), k=k, **kw)}
    zero = out.zero_shot.expand_as(out.icl)
    comps["icl-zero_shot"] = compare(out.icl, zero, gold, ("icl", "zero_shot"), k=k, **kw)
    traj = {}
    for name, r in out.variants.items():
        sens[name] = sensitivity(r.probs, labels, **kw)
        comps[f"icl-{name}"] = compare(out.icl, r.probs, gold, ("icl", name), k=k, **kw)
        traj[name] = {
            "epochs": r.eval_epochs,
            "token_overlap": [] if r.overlap is None else r.overlap.mean((1, 2)).tolist(),
            "label_sensitivity": ([] if r.label_probs is None else
                                  [float(per_input_sensitivity(lp.double().numpy()).mean()) for lp in r.label_probs]),
            "loss": r.losses.mean(0).tolist(),
            "lr": r.variant.lr,
            "description": r.variant.description,
        }
    O, I = out.icl.shape[:2]
    return {
        "model": out.model,
        "dataset": out.task.spec.name,
        "shots": out.enc.shots,
        "orders": len(out.orders),
        "orderings": [list(o) for o in out.orders],
        "test_inputs": I,
        "seed": out.seed,
        "rows": list(out.task.indices),
        "template": vars(out.task.spec.template),
        "label_words": list(out.task.spec.label_words),
        "accuracy": {"icl": float(accuracy(out.icl, gold).mean()),
                     "zero_shot": float(accuracy(out.zero_shot, gold).mean()),
                     **{n: float(accuracy(r.probs, gold).mean()) for n, r in out.variants.items()}},
        "order_sensitivity": sens,
        "comparisons": comps,
        "trajectory": traj,
        "timings": {
            "icl_seconds": out.seconds["icl"],
            "icl_prompts_per_s": O * I / out.seconds["icl"],
            **{f"{n}_seconds_per_epoch": r.seconds_per_epoch for n, r in out.variants.items()},
            **{f"{n}_seconds": out.seconds[n] for n in out.variants},
        },
        "level": level,
        "k": k,
    }


# ---- checks ---------------------------------------------------------------------------------
def _setting(out: ProbeOutputs, **extra) -> dict:
    return {"model": out.model, "dataset": out.task.spec.name, "shots": out.enc.shots,
            "orderings": [list(o) for o in out.orders], "test_inputs": len(out.enc.queries),
            "seed": out.seed, "rows": list(out.task.indices), **extra}


def s1_checks(out: ProbeOutputs, *, seed: int = 0, n_boot: int = 1000, level: float = 0.99) -> list[Check]:
    """Theorem 1 against every variant, on the full next-token distributions: a Check with
    expect="refute" whose ``holds`` is False when ICL is significantly more order sensitive, i.e.
    "ICL is not equivalent to <variant> in this model"."""
    return [refute_equivalence(out.icl, r.probs, alg_name=name, n_boot=n_boot, seed=seed, level=level,
                               setting=_setting(out, variant=name, lr=r.variant.lr, epochs=r.epochs))
            for name, r in out.variants.items()]


def pattern_checks(out: ProbeOutputs, *, k: int = 10, seed: int = 0, n_boot: int = 1000,
                   level: float = 0.99) -> list[Check]:
    """S2 per variant and metric: agreement(ICL, ICL reordered) ≥ agreement(ICL, variant).

    error = mean over test inputs of agreement(ICL, variant) − agreement(ICL, ICL reordered) (> 0:
    the pattern is violated); tolerance = its one-sided ``level`` bootstrap margin over test inputs,
    so a Check fails only when the violation is significant."""
    claim = get_claim("S2")
    base = reordered(out.icl)
    metrics = {"token_overlap": lambda a, b: token_overlap(a, b, k),
               "overlap_cosine": lambda a, b: overlap_cosine(a, b, k, "union")}
    checks = []
    for name, r in out.variants.items():
        for metric, f in metrics.items():
            ref = f(out.icl, base).mean(0).numpy()  # (I,)
            alt = f(out.icl, r.probs).mean(0).numpy()  # (I,)
            diff = alt - ref
            lower, _ = bootstrap_interval(diff, n_boot=n_boot, seed=seed, level=level, sided="lower")
            margin = float(diff.mean() - lower)
            checks.append(check(
                claim.id, f"{metric}@{k} icl-icl_reordered vs icl-{name}", float(ref.mean()), float(alt.mean()),
                margin, f"one-sided {level:g} percentile bootstrap margin of the paired difference over "
                f"{len(diff)} test inputs ({n_boot} resamples, seed {seed})",
                _setting(out, variant=name, lr=r.variant.lr, epochs=r.epochs, metric=metric, k=k),
                error=float(diff.mean())))
    return checks


def invariance_check(p32: torch.Tensor, p64: torch.Tensor, *, name: str, setting: dict,
                     expect: str = "hold") -> Check:
    """Full-batch GD ignores the order of the demos in exact arithmetic (S1, consequence (a)), so the
    order sensitivity S of its float32 outputs p32 (O, I, V) must be within their rounding error.

    Bound: for every output, std_σ p̂_σ ≤ max_σ |p̂_σ − p| (the std is at most the largest deviation
    from any constant, here the exact p). p is estimated by the same runs in float64, p64; their own
    error is ≈ u64/u32 = 2⁻²⁹ times smaller and is covered by the factor (1 + 2⁻²⁹). So
    S ≤ mean_{i,v} max_σ |p32 − p64| (1 + 2⁻²⁹), plus γ_{O+3}(float64)·max|p32 − p32_0| for
    computing the std itself. With ``expect="refute"`` (an algorithm expected to depend on the order)
    the Check records the found order dependence: ``holds`` is False when S exceeds the bound."""
    a, b = p32.double(), p64.double()
    if a.shape != b.shape:
        raise SettingError("p64", f"shape {tuple(b.shape)} differs from p32 {tuple(a.shape)}")
    O = a.shape[0]
    dev = (a - b).abs().amax(0).mean().item() * (1 + 2.0**-29)
    tol = dev + gamma_n(O + 3, np.float64) * (a - a[:1]).abs().max().item()
    s = order_sensitivity(a.numpy())
    reason = (f"float32 rounding of the training run: mean over outputs of max over {O} orderings of "
              f"|p_float32 − p_float64| = {dev:.3g}, + γ_{O + 3}(float64) for the std")
    return check("S1", f"order_sensitivity {name} (float32) = 0", 0.0, s, tol, reason, setting, error=s,
                 expect=expect)


# ---- one run --------------------------------------------------------------------------------
@dataclass
class ProbeReport:
    summary: dict
    s1: list[Check]
    pattern: list[Check]
    outputs: ProbeOutputs


def run_probe(cfg: ProbeConfig, *, bar: Callable[[str, int], object] = no_bar, sparsity: bool = True) -> ProbeReport:
    """Load (cached per process), measure, summarize and check. Bad input raises SettingError."""
    cfg.validate()
    t0 = time.perf_counter()
    with setting_errors():
        if cfg.dtype is not None and cfg.dtype not in _DTYPES:
            raise SettingError("dtype", f"must be one of {', '.join(_DTYPES)}, got {cfg.dtype!r}")
        ds = spec(cfg.dataset)
        if cfg.label_words is not None or cfg.template:
            ds = ds.with_overrides(cfg.label_words, **cfg.template)
        variants = [variant(v, cfg.lrs.get(v)) for v in cfg.variants]
        lm = load_model(cfg.model, device=cfg.device, dtype=_DTYPES.get(cfg.dtype), progress=bar is not no_bar)
        load_s = time.perf_counter() - t0
        epochs = cfg.resolved_epochs()
        every = cfg.eval_every if cfg.eval_every is not None else max(1, epochs // 5)
        out = collect(lm, ds, shots=cfg.shots, orders=cfg.orders, test_inputs=cfg.test_inputs, seed=cfg.seed,
                      variants=variants, epochs=epochs, eval_every=every, k=cfg.k, bar=bar)
    kw = dict(seed=cfg.seed, n_boot=cfg.n_boot, level=cfg.level)
    summary = summarize(out, k=cfg.k, **kw)
    s1 = s1_checks(out, **kw)
    pattern = pattern_checks(out, k=cfg.k, **kw)
    summary["epochs"] = epochs
    summary["variants"] = {v.name: {"lr": v.lr, "description": v.description, "params": v.params,
                                    "optimizer": v.optimizer, "batch": v.batch} for v in variants}
    summary["s1"] = [_check_row(c) for c in s1]
    summary["pattern"] = [_check_row(c) for c in pattern]
    if sparsity:
        summary["sparsity"] = sparsity_summary(lm.model)
    summary["timings"]["load_seconds"] = load_s
    summary["device"] = str(lm.device)
    summary["seconds"] = time.perf_counter() - t0
    return ProbeReport(summary, s1, pattern, out)


def _check_row(c: Check) -> dict:
    row = {"claim": c.claim, "quantity": c.quantity, "verdict": c.verdict, "predicted": c.predicted,
           "measured": c.measured, "error": c.error, "tolerance": c.tolerance, "reason": c.reason}
    s = c.setting
    if "sensitivity_icl" in s:
        row.update(sensitivity_icl=s["sensitivity_icl"], sensitivity_alg=s["sensitivity_alg"],
                   excess_lower_bound=s["excess_lower_bound"], witness=s["witness"]["orderings"])
    return row
