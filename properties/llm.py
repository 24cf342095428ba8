"""LLM probes meet Shen, Mishra & Khashabi's claims (ICML 2024): S1 (Theorem 1), S2 (§5 pattern), S3 (§6).

:func:`run_probe` loads a real pretrained LM and a dataset, measures ICL and each update algorithm
under O orderings (:mod:`iclgd.empirics.llm`), and returns

- a summary (the `iclgd probe` JSON): each variant's demo label-loss drop; order sensitivity per
  method (std across orderings, :mod:`iclgd.theory.order`, full vocabulary and label words) with
  bootstrap intervals over test inputs; Shen's metrics and (``peers``) Dai et al.'s and Deutch et
  al.'s per-layer metrics, each beside its nulls with the effect-to-null ratio
  (:func:`peer_and_null_summary`); the sparsity profile and its S3 check; trajectories and wall times;
- Checks: one S1 witness check per variant (:func:`iclgd.properties.order.refute_equivalence`: a
  significant difference in order sensitivity either way witnesses non-equivalence, a consequence of
  Theorem 1) and S2 pattern checks (held / finding with supports, ties or reverses). Every verdict
  uses an exact sign test over test inputs and is ``inconclusive`` with too few inputs or when the
  variant did not learn its demos.

:func:`run_protocol` runs the paper's grid and aggregates S2 over it.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

import numpy as np
import torch

from iclgd.empirics.llm import (
    DEFAULT_MODEL, PAPER_EPOCHS, ProbeInputError, ProbeOutputs, collect, load_model, spec, variant,
)
from iclgd.empirics.llm.defaults import CPU_EPOCHS, DEFAULT_VARIANTS
from iclgd.empirics.llm.finetune import MOVED
from iclgd.empirics.llm.metrics import accuracy, overlap_cosine, token_overlap
from iclgd.empirics.llm.peers import rec2ftp_counts, sim_am, sim_am_delta, sim_aou
from iclgd.empirics.llm.probe import NULLS, no_bar
from iclgd.empirics.llm.sparsity import THRESHOLDS, sparsity_profile
from iclgd.theory import SettingError
from iclgd.theory.order import order_sensitivity, per_input_sensitivity
from iclgd.theory.papers.shen import S1, S2, S3

from .checks import Check, check
from .order import gamma_n, refute_equivalence, sign_test, sign_test_detectable, sign_test_inputs, sign_test_power
from .stats import bootstrap_interval, per_check_alpha
from .verdicts import FINDING, HELD, INCONCLUSIVE



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
    test_inputs: int = 26  # test inputs, disjoint from the demonstrations (>= 26 for a verdict at the per-check level)
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
    lr_grid: Optional[tuple[float, ...]] = None  # choose each variant's lr from this grid (select_lr); None: lrs/defaults
    until_converged: bool = False  # train until the demo label loss stops improving (epochs = the cap)
    peers: bool = False  # the peers' per-layer metrics (SimAOU, SimAM, SimAM_Δ, Rec2FTP)
    nulls: tuple[str, ...] = ()  # of iclgd.empirics.llm.probe.NULLS
    null_orders: Optional[int] = None  # random-labels / untrained nulls on the first that many orderings (None: all)
    lr_epochs: Optional[int] = None  # cap of each lr-grid run (None: the variant's epochs)

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
        if self.lr_grid is not None and (not self.lr_grid or any(not (g > 0 and np.isfinite(g)) for g in self.lr_grid)):
            raise SettingError("lr_grid", f"every learning rate must be a finite number > 0, got {list(self.lr_grid)}")


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


def sparsity_summary(model, thresholds=THRESHOLDS, quantised: Optional[str] = None) -> dict:
    prof = sparsity_profile(model, thresholds, quantised)
    need = construction_sparsity(prof["attention"]["hidden"])
    prof["requirement"] = need
    judged = prof.get("upper") or prof["layers"]
    prof["meets_requirement"] = {m: [max(l[m][i] for l in judged) >= need[m] for i in range(len(thresholds))]
                                 for m in ("q", "k", "v")}
    return prof


def sparsity_check(prof: dict, *, setting: dict) -> Check:
    """S3 (Shen et al. §6) on a measured profile (:func:`sparsity_summary`): the pattern holds when every
    layer's fraction |w| < ε, at every ε, for W_Q, W_K, W_V is below the construction's requirement.
    Deterministic (no sampling): error = max over projections, layers and ε of (measured − required),
    tolerance 0; the setting carries the profile's means and the requirement. On a de-quantised Q4_1
    checkpoint every ε is below the quantisation step, so the fraction judged is the upper bound for
    the weights before quantisation (|ŵ| < ε + the entry's rounding bound; :mod:`iclgd.empirics.llm.sparsity`):
    the pattern then holds for whatever weights were rounded to these."""
    need = prof["requirement"]
    q = prof.get("quantised")
    judged = prof.get("upper") or prof["layers"]
    gaps = [f - need[m] for layer in judged for m in ("q", "k", "v") for f in layer[m]]
    worst = max(gaps)
    closest = {m: max(max(layer[m]) for layer in judged) for m in ("q", "k", "v")}
    what = "measured fraction |w| < ε"
    if prof.get("upper"):
        lo, eps = min(s["min"] for s in prof["step"].values()), max(prof["thresholds"])
        what = (f"upper bound on the fraction |w| < ε of the weights before {q} quantisation (|ŵ| < ε + the "
                f"entry's rounding bound; block steps ≥ {lo:.3g}, so every ε ≤ {eps:g} is "
                f"{'below' if eps < lo else 'not below'} every step)")
    weak = (f"the attention projections are {q}-quantised and no rounding bound is implemented for {q}: ε below its "
            "step would measure the quantisation grid" if q and not prof.get("upper") else "")
    return check(S3.id, "sparsity (W_Q, W_K, W_V) below the one-step-GD construction's requirement",
                 [need[m] for m in "qkv"], [closest[m] for m in "qkv"], 0.0,
                 f"max over {len(judged)} layers, W_Q/W_K/W_V and ε ∈ {prof['thresholds']} of the {what} minus "
                 f"the requirement (exact counts, no sampling)",
                 {**setting, "mean": prof["mean"], "thresholds": prof["thresholds"], "requirement": need,
                  "densest_margin": -worst, "quantised": q, **({"mean_upper": prof["mean_upper"], "step": prof["step"]}
                                                                if prof.get("upper") else {})},
                 error=worst, expect="pattern", inconclusive=weak)


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
            "demo_loss": r.demo_loss.mean(0).tolist(),
            "loss_drop": r.loss_drop,
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
        "fine_tuning": {n: {**r.loss_drop, "lr": r.variant.lr} for n, r in out.variants.items()},
        "comparisons": comps,
        "trajectory": traj,
        "timings": {
            "icl_seconds": out.seconds["icl"],
            "icl_prompts_per_s": O * I / out.seconds["icl"],
            **{f"{n}_seconds_per_epoch": r.seconds_per_epoch for n, r in out.variants.items()},
            **{f"{n}_seconds": out.seconds[n] for n in out.variants},
            **{f"{k}_seconds": v for k, v in out.seconds.items() if k not in ("icl", *out.variants)},  # lr search, nulls
        },
        "level": level,
        "k": k,
    }


# ---- checks ---------------------------------------------------------------------------------
def _setting(out: ProbeOutputs, **extra) -> dict:
    return {"model": out.model, "dataset": out.task.spec.name, "shots": out.enc.shots,
            "orderings": [list(o) for o in out.orders], "test_inputs": len(out.enc.queries),
            "seed": out.seed, "rows": list(out.task.indices), **extra}


def _moved(r) -> str:
    """'' when the variant learnt its demos, else why the verdicts that depend on it are inconclusive."""
    d = r.loss_drop
    if d["moved"]:
        return ""
    return (f"{r.variant.name} did not learn its demos: demo label loss {d['initial']:.3g} → {d['final']:.3g} "
            f"(drop {d['relative']:.1%} < {MOVED:.0%} in {d['epochs']} epochs at lr {r.variant.lr:g}); comparing ICL "
            "with it compares ICL with (almost) the base model")


def s1_checks(out: ProbeOutputs, *, seed: int = 0, n_boot: int = 1000, level: float = 0.99,
              alpha: Optional[float] = None) -> list[Check]:
    """Theorem 1 against every variant, on the full next-token distributions: an exact two-sided sign
    test of the per-input order-sensitivity differences (:func:`refute_equivalence`,
    ``expect="witness"``: a significant difference either way witnesses "ICL is not equivalent to
    <variant> in this model", a consequence of S1). Inconclusive with too few test inputs, or when
    the variant did not learn its demos."""
    checks = []
    for name, r in out.variants.items():
        c = refute_equivalence(out.icl, r.probs, alg_name=name, n_boot=n_boot, seed=seed, level=level, alpha=alpha,
                               setting=_setting(out, variant=name, lr=r.variant.lr, epochs=r.epochs,
                                                loss_drop=r.loss_drop))
        why = _moved(r)
        if why:  # first why, then what the test could have detected anyway
            c = replace(c, inconclusive=f"{why}; {c.inconclusive}" if c.inconclusive else why)
        checks.append(c)
    return checks


PATTERN_METRICS = {"token_overlap": lambda a, b, k: token_overlap(a, b, k),
                   "overlap_cosine": lambda a, b, k: overlap_cosine(a, b, k, "union")}


PATTERN_STRENGTH = 0.9  # the pattern as the paper shows it: on ~all inputs (Shen et al. Fig. 2-3, large gaps)
PATTERN_POWER = 0.8  # a tie is a finding only when the test would have seen that pattern this often


def pattern_checks(out: ProbeOutputs, *, k: int = 10, seed: int = 0, n_boot: int = 1000,
                   level: float = 0.99, alpha: Optional[float] = None, metrics: Optional[dict] = None) -> list[Check]:
    """S2 per variant and metric: agreement(ICL, ICL reordered) > agreement(ICL, variant).

    d_i = agreement(ICL, variant) − agreement(ICL, ICL reordered) per test input (mean over orderings).
    An exact one-sided sign test at level ``alpha`` (default: the LLM family's per-check level):
    ``held`` when d_i < 0 on a significant majority of inputs (error = its p, tolerance = α); a
    ``finding`` — the pattern did not reproduce — when it is *reversed* (d_i > 0 significantly), or
    when it *ties* although the test had power ≥ PATTERN_POWER against the pattern on
    PATTERN_STRENGTH of inputs; the setting carries the mean difference and its bootstrap interval.
    ``inconclusive`` for an under-powered tie (it says which pattern it could have detected), with
    fewer test inputs than the test needs, with one ordering (reordered ICL is ICL itself) or when
    the variant did not learn its demos. ``metrics`` (:func:`peer_and_null_summary`'s result): each
    check's setting also says which of the metric's nulls ICL–variant agreement beats
    (``nulls``: null → True / False / None when undecidable)."""
    alpha = per_check_alpha("llm") if alpha is None else alpha
    need = sign_test_inputs(alpha, "one")
    claim = S2
    base = reordered(out.icl)
    I = out.icl.shape[1]
    checks = []
    for name, r in out.variants.items():
        for metric, f in PATTERN_METRICS.items():
            ref = f(out.icl, base, k).mean(0).numpy()  # (I,)
            alt = f(out.icl, r.probs, k).mean(0).numpy()  # (I,)
            diff = alt - ref
            st = sign_test(diff)
            outcome = "supports" if st["p_below"] <= alpha else "reverses" if st["p_above"] <= alpha else "ties"
            lo, hi = bootstrap_interval(diff, n_boot=n_boot, seed=seed, level=level)
            weak = ""
            if len(out.orders) < 2:
                weak = "one ordering: reordered ICL is ICL itself, so the baseline agreement is 1 by construction"
            elif I < need:
                weak = (f"{I} test inputs: a one-sided sign test cannot reach α = {alpha:.2g} with fewer than {need} "
                        "(2^-m > α); it could not detect a pattern of any size")
            else:
                weak = _moved(r)
            if not weak and outcome == "ties":
                m = st["above"] + st["below"]
                pw = sign_test_power(m, alpha, PATTERN_STRENGTH)
                if pw < PATTERN_POWER:
                    weak = (f"neither side significant ({st['below']} support, {st['above']} reverse) and the test "
                            f"had power {pw:.2g} < {PATTERN_POWER} against the pattern on {PATTERN_STRENGTH:.0%} of "
                            f"inputs: with {m} untied inputs at α = {alpha:.2g} it detects (power {PATTERN_POWER}) "
                            f"only a pattern on ≥ {sign_test_detectable(m, alpha, PATTERN_POWER):.1%} of inputs")
            checks.append(check(
                claim.id, f"{metric}@{k} icl-icl_reordered vs icl-{name}", float(ref.mean()), float(alt.mean()),
                alpha, f"exact one-sided sign test that ICL–ICL(reordered) agrees more than ICL–{name} over {I} test "
                f"inputs ({st['below']} support, {st['above']} reverse, {st['ties']} ties): p = {st['p_below']:.3g} "
                f"vs α = {alpha:.2g}",
                _setting(out, variant=name, lr=r.variant.lr, epochs=r.epochs, metric=metric, k=k, outcome=outcome,
                         sign_test=st, effect={"mean": float(diff.mean()), "interval": [lo, hi], "level": level},
                         loss_drop=r.loss_drop, nulls=_null_beats(metrics, name, metric)),
                error=st["p_below"], expect="pattern", inconclusive=weak))
    return checks


def _null_beats(metrics: Optional[dict], variant: str, metric: str) -> dict:
    nulls = ((metrics or {}).get("variants", {}).get(variant, {}).get(metric, {}).get("nulls", {}))
    return {k: v.get("beats") for k, v in nulls.items() if k != "icl_reordered"}


def invariance_check(p32: torch.Tensor, p64: torch.Tensor, *, name: str, setting: dict,
                     expect: str = "hold") -> Check:
    """Full-batch GD ignores the order of the demos in exact arithmetic (S1, consequence (a)), so the
    order sensitivity S of its float32 outputs p32 (O, I, V) must be within their rounding error.

    Bound: for every output, std_σ p̂_σ ≤ max_σ |p̂_σ − p| (the std is at most the largest deviation
    from any constant, here the exact p). p is estimated by the same runs in float64, p64; their own
    error is ≈ u64/u32 = 2⁻²⁹ times smaller and is covered by the factor (1 + 2⁻²⁹). So
    S ≤ mean_{i,v} max_σ |p32 − p64| (1 + 2⁻²⁹), plus γ_{O+3}(float64)·max|p32 − p32_0| for
    computing the std itself. With ``expect="witness"`` (an algorithm expected to depend on the order)
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
    return check(S1.id, f"order_sensitivity {name} (float32) = 0", 0.0, s, tol, reason, setting, error=s,
                 expect=expect)


# ---- the peers' metrics and a null for every metric ---------------------------------------------
PEER_METRICS = ("sim_aou", "sim_am", "sim_am_delta", "rec2ftp")
SHEN_METRICS = ("token_overlap", "overlap_cosine")


def _layer_intervals(x: np.ndarray, seed: int, n_boot: int, level: float) -> dict:
    """Per-layer means of x (I, L) with percentile-bootstrap intervals over test inputs (one resample
    of inputs for all layers), and the mean over layers with its interval."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.shape[0], size=(n_boot, x.shape[0]))  # (B, I)
    boots = x[idx].mean(1)  # (B, L)
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2], axis=0)
    over = _interval(x.mean(1), seed, n_boot, level)
    return {**over, "per_layer": {"value": x.mean(0).tolist(), "interval": np.stack([lo, hi], 1).tolist()}}


def _per_input(metric: str, icl_m: dict, ft_m: dict, zs_m: dict, icl_p, ft_p, zs_p, gold, k: int):
    """metric per test input: (I, L) for the per-layer metrics, (I,) for the output metrics, or
    (num, den) per input for Rec2FTP. *_m: internals ({"attn_out", "scores"}), *_p: (O|1, I, V) probabilities."""
    if metric == "sim_aou":
        return sim_aou(icl_m["attn_out"], ft_m["attn_out"], zs_m["attn_out"]).mean(0).numpy()
    if metric == "sim_am":
        return sim_am(icl_m["scores"], ft_m["scores"]).mean(0).numpy()
    if metric == "sim_am_delta":
        return sim_am_delta(icl_m["scores"], ft_m["scores"], zs_m["scores"]).mean(0).numpy()
    if metric == "rec2ftp":
        ok = lambda p: p.argmax(-1) == gold  # noqa: E731  (O, I)
        num, den = rec2ftp_counts(ok(icl_p), ok(ft_p), ok(zs_p))
        return num.sum(0).numpy(), den.sum(0).numpy()  # (I,), (I,): summed over orderings
    if metric == "token_overlap":
        return token_overlap(icl_p, ft_p, k).mean(0).numpy()
    return overlap_cosine(icl_p, ft_p, k, "union").mean(0).numpy()


def _ratio_interval(num: np.ndarray, den: np.ndarray, seed: int, n_boot: int, level: float) -> dict:
    """Σnum/Σden over test inputs with a percentile-bootstrap interval (resampling inputs)."""
    if den.sum() == 0:
        return {"value": None, "interval": None, "reason": "fine-tuning fixed no zero-shot error: undefined"}
    idx = np.random.default_rng(seed).integers(0, len(den), size=(n_boot, len(den)))
    n, d = num[idx].sum(1), den[idx].sum(1)
    r = n[d > 0] / d[d > 0]
    lo, hi = np.quantile(r, [(1 - level) / 2, (1 + level) / 2])
    return {"value": float(num.sum() / den.sum()), "interval": [float(lo), float(hi)], "fixed": int(den.sum())}


def _scalar(v):
    """Per-input values of a metric (I,) (layers averaged) for null comparisons."""
    return v.mean(1) if v.ndim == 2 else v


def beats(value: np.ndarray, null: np.ndarray, alpha: float) -> dict:
    """Does a similarity beat its null input by input? Exact one-sided sign test of value_i > null_i at
    level alpha; ``beats`` None when the inputs are too few for the test to reach alpha."""
    st = sign_test(value - null)
    need = sign_test_inputs(alpha, "one")
    vm, nm = float(np.mean(value)), float(np.mean(null))
    out = {"value": nm, "ratio": (vm / nm) if nm != 0 else None, "difference": vm - nm, "sign_test": st,
           "beats": bool(st["p_above"] <= alpha) if len(value) >= need else None}
    if out["beats"] is None:
        out["reason"] = f"{len(value)} test inputs < {need}: a one-sided sign test cannot reach α = {alpha:.2g}"
    return out


def peer_and_null_summary(out: ProbeOutputs, *, k: int, seed: int, n_boot: int, level: float,
                          alpha: Optional[float] = None) -> dict:
    """Per variant: the peers' metrics (per layer, with intervals) and Shen's, each beside its nulls
    (random update of the same norm, untrained weights, random labels, ICL vs reordered ICL) with the
    effect-to-null ratio and whether the metric beats the null; ``flags`` lists every (metric, null)
    that it does not beat. ICL's order sensitivity beside its nulls (floating-point drift, untrained
    weights, random labels)."""
    alpha = per_check_alpha("llm") if alpha is None else alpha
    kw = dict(seed=seed, n_boot=n_boot, level=level)
    gold = out.gold
    ints = out.internals
    res, flags = {"variants": {}}, []
    nulls = out.nulls
    for name, r in out.variants.items():
        rows = {}
        metrics = (PEER_METRICS if r.internals is not None and ints else ()) + SHEN_METRICS
        for metric in metrics:
            if metric in PEER_METRICS:
                icl_m, ft_m, zs_m = ints["icl"], r.internals, ints["zero_shot"]
            else:
                icl_m = ft_m = zs_m = None
            v = _per_input(metric, icl_m, ft_m, zs_m, out.icl, r.probs, out.zero_shot, gold, k)
            if metric == "rec2ftp":
                row = _ratio_interval(*v, **kw)
            else:
                row = _layer_intervals(v, **kw) if v.ndim == 2 else _interval(v, seed, n_boot, level)
            cand = {}
            if r.random_update is not None and (metric not in PEER_METRICS or r.random_update_internals is not None):
                cand["random_update"] = _per_input(metric, icl_m, r.random_update_internals, zs_m, out.icl,
                                                   r.random_update, out.zero_shot, gold, k)
            for null in ("untrained", "random-labels"):
                m = nulls.get(null)
                if m is None or name not in m["variants"]:
                    continue
                mr = m["variants"][name]
                if metric in PEER_METRICS and not m["internals"]:
                    continue
                cand[null.replace("-", "_")] = _per_input(
                    metric, m["internals"].get("icl"), mr.internals, m["internals"].get("zero_shot"), m["icl"], mr.probs,
                    m["zero_shot"], gold, k)
            if metric != "rec2ftp":  # ICL under another order, in place of the fine-tuned model: a reference
                re_m = ({key: t.roll(-1, dims=0) for key, t in ints["icl"].items()} if metric in PEER_METRICS else None)
                cand["icl_reordered"] = _per_input(metric, icl_m, re_m, zs_m, out.icl, reordered(out.icl),
                                                   out.zero_shot, gold, k)
            row["nulls"] = {}
            for null, nv in cand.items():
                if metric == "rec2ftp":
                    nr = _ratio_interval(*nv, **kw)
                    b = {"value": nr["value"], "interval": nr["interval"], "beats": None,
                         "reason": "a ratio over inputs (no per-input test): compare the intervals"}
                    if nr["value"] and row["value"] is not None:
                        b["ratio"] = row["value"] / nr["value"]
                else:
                    b = beats(_scalar(v), _scalar(nv), alpha)
                    if null == "icl_reordered":
                        b["beats"] = None
                        b["reason"] = "a reference (how alike two ICL runs are), not a null"
                    elif b["beats"] is False:
                        flags.append(f"{metric} icl-{name} does not beat the {null} null "
                                     f"({b['difference']:+.3g}, sign test p = {b['sign_test']['p_above']:.2g})")
                row["nulls"][null] = b
            rows[metric] = row
        res["variants"][name] = rows
    # ICL's order sensitivity against the arithmetic's own drift and against the other nulls
    s_icl = per_input_sensitivity(out.icl.double().numpy())  # (I,)
    sens = {"value": float(s_icl.mean())}
    fp = nulls.get("fp")
    if fp is not None:
        two = out.icl[:2].double()
        for key in ("batch", "uncached"):
            drift = per_input_sensitivity(torch.stack([two[0], fp[key][0].double()]).numpy())  # same prompt, twice
            b = beats(s_icl, drift, alpha)
            sens[f"fp_{key}"] = {**b, "max_abs_difference": float((fp[key].double() - two).abs().max())}
            if b["beats"] is False:
                flags.append(f"ICL order sensitivity does not beat its floating-point drift ({key})")
    for null in ("untrained", "random-labels"):
        m = nulls.get(null)
        if m is not None:
            sens[null.replace("-", "_")] = {**beats(s_icl, per_input_sensitivity(m["icl"].double().numpy()), alpha),
                                            "note": "a comparison, not a null: ICL on other weights / labels"}
    res["order_sensitivity"] = sens
    res["flags"] = flags
    res["alpha"] = alpha
    return res


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
                      variants=variants, epochs=epochs, eval_every=every, k=cfg.k, bar=bar,
                      lr_grid=cfg.lr_grid, fixed_lr=set(cfg.lrs), until_converged=cfg.until_converged,
                      internals=cfg.peers, nulls=cfg.nulls, null_orders=cfg.null_orders,
                      lr_epochs=cfg.lr_epochs)
    kw = dict(seed=cfg.seed, n_boot=cfg.n_boot, level=cfg.level)
    summary = summarize(out, k=cfg.k, **kw)
    s1 = s1_checks(out, **kw)
    metrics = peer_and_null_summary(out, k=cfg.k, **kw)
    pattern = pattern_checks(out, k=cfg.k, metrics=metrics, **kw)
    summary["epochs"] = epochs
    summary["variants"] = {n: {"lr": r.variant.lr, "description": r.variant.description, "params": r.variant.params,
                               "optimizer": r.variant.optimizer, "batch": r.variant.batch, "loss": r.variant.loss,
                               "lr_grid_losses": out.lr_search.get(n)}
                           for n, r in out.variants.items()}
    summary["lr_rule"] = (None if cfg.lr_grid is None else
                          f"per variant, the rate of {list(cfg.lr_grid)} with the lowest demo label loss at convergence "
                          f"(cap {min(epochs, cfg.lr_epochs or epochs)} epochs) on the drawn order; runs that "
                          "diverged or ended above their start are excluded")
    summary["s1"] = [_check_row(c) for c in s1]
    summary["pattern"] = [_check_row(c) for c in pattern]
    summary["metrics"] = metrics
    summary["nulls"] = list(cfg.nulls)
    if sparsity:
        summary["sparsity"] = sparsity_summary(lm.model, quantised=lm.quantisation)
        c = sparsity_check(summary["sparsity"], setting={"model": cfg.model})
        summary["sparsity_check"] = {**_check_row(c), "densest_margin": c.setting["densest_margin"]}
    summary["timings"]["load_seconds"] = load_s
    summary["device"] = str(lm.device)
    summary["quantisation"] = lm.quantisation
    summary["seconds"] = time.perf_counter() - t0
    return ProbeReport(summary, s1, pattern, out)


def _check_row(c: Check) -> dict:
    row = {"claim": c.claim, "quantity": c.quantity, "verdict": c.verdict, "predicted": c.predicted,
           "measured": c.measured, "error": c.error, "tolerance": c.tolerance, "reason": c.reason,
           "inconclusive": c.inconclusive}
    s = c.setting
    if "sensitivity_icl" in s:
        row.update(sensitivity_icl=s["sensitivity_icl"], sensitivity_alg=s["sensitivity_alg"], excess=s["excess"],
                   excess_interval=s["excess_interval"], direction=s["direction"], sign_test=s["sign_test"],
                   witness=s["witness"]["orderings"])
    for key in ("outcome", "effect", "sign_test", "loss_drop"):
        if key in s:
            row[key] = s[key]
    return row


# ---- Shen et al.'s grid as one run ------------------------------------------------------------
@dataclass(frozen=True)
class ProtocolConfig:
    """The paper's grid (SHEN.md): every (dataset, N) cell is one :func:`run_probe` per demo seed.

    CPU default [choice, sized for ≤ 15 min on 2 cores]: SST-2, TREC, SUBJ (AGNews's prompts are ≈ 3×
    longer: with it and 4 orderings the grid took 31 min); N ∈ {2, 4}; one demo seed; min(N!, 3) orderings; 64 test
    inputs (an S2 tie is a finding only with ≥ 52 untied ones, 80 % power against the pattern on 90 % of inputs,
    :func:`pattern_checks`; 26, the fewest for any verdict, left every tie inconclusive); GD on
    the whole model (ĜD on one W_V does not learn its demos within a CPU budget: 2.6 % label-loss drop
    in 10 epochs at the grid's best rate, SST-2 N = 2); lr from the paper's grid; until converged
    (cap 5 epochs: whole-model GD at lr 1e-3 drops the demo loss by 89–99 % in 5; the lr-grid runs
    under the same cap: at a cap of 3 the grid chose 5e-3 for TREC N = 4, which then diverged by epoch
    4); the peers' metrics and the random-update and random-label nulls (the latter re-measured on the first
    2 orderings). Left to flags, since no verdict reads them and with 64 inputs they took 63 % of a 45-minute
    run: the floating-point and untrained-weights nulls (`nulls`; Token Overlap(ICL, GD) beat the untrained
    null in 6 of 6 cells) and the trajectory reads (`eval_every`; `iclgd probe --plot` reads every 2 epochs).
    CUDA default [paper scale]: N ∈ {2, 4, 8}, three seeds, 10 orderings, 64 test inputs, every
    variant, cap 200 epochs (lr-grid runs too), trajectory every 10 epochs, nulls on every ordering. The paper's N = 1 is left out: one demonstration has one ordering, so
    order sensitivity and the ICL–ICL(reordered) baseline are undefined there."""
    model: str = DEFAULT_MODEL
    datasets: tuple[str, ...] = ("sst2", "trec", "subj")
    shots: tuple[int, ...] = (2, 4)
    seeds: tuple[int, ...] = (0,)
    orders: int = 3
    test_inputs: int = 64
    variants: tuple[str, ...] = ("gd",)
    epochs: int = 5  # the cap
    lr_grid: tuple[float, ...] = (1e-3, 5e-3, 1e-4, 5e-4)
    nulls: tuple[str, ...] = ("random-update", "random-labels")
    null_orders: Optional[int] = 2
    lr_epochs: Optional[int] = None  # each lr-grid run's cap (None: the run's own; 3 chose a rate that later diverged)
    eval_every: int = 0  # trajectory read every that many epochs (0: none)
    device: str = "cpu"
    dtype: Optional[str] = None
    k: int = 10
    n_boot: int = 1000
    level: float = 0.99

    @classmethod
    def default(cls, device: str = "cpu", **over) -> "ProtocolConfig":
        if torch.device(device).type == "cuda":
            base = dict(datasets=("sst2", "agnews", "trec", "subj"), shots=(2, 4, 8), seeds=(0, 1, 2), orders=10,
                        test_inputs=64, variants=ALL_VARIANTS, epochs=PAPER_EPOCHS, null_orders=None, lr_epochs=None,
                        eval_every=10, nulls=NULLS)
            return cls(device=device, **{**base, **over})
        return cls(device=device, **over)

    def cells(self):
        return [(d, n, s) for d in self.datasets for n in self.shots for s in self.seeds]

    def validate(self) -> None:
        if not self.datasets:
            raise SettingError("datasets", "must name at least one dataset")
        if not self.shots or any(n < 2 for n in self.shots):
            raise SettingError("shots_grid", f"every N must be >= 2 (one demonstration has one ordering: no "
                               f"order sensitivity, no reordered baseline), got {list(self.shots)}")
        if not self.seeds:
            raise SettingError("seeds", "must give at least one demo seed")
        if not 1 <= self.orders <= 10:
            raise SettingError("orders", f"the paper's protocol uses at most 10 orderings per N, got {self.orders}")


ALL_VARIANTS = ("gd", "gd-mid", "gd-deep", "sgd", "adam", "kv-sgd", "lc-gd")


def run_protocol(cfg: ProtocolConfig, *, bar: Callable[[str, int], object] = no_bar,
                 progress: Optional[Callable[[str], None]] = None) -> dict:
    """Run every cell and aggregate: per (dataset, N) cell each variant's label-loss drop, order
    sensitivity with intervals, Shen's and the peers' metrics with their nulls, S1 and S2 checks;
    the S2 verdict aggregated as S2 is stated (on every dataset and N, for every GD/ĜD variant and
    both metrics): ``held`` when every decided check supports the pattern and none is missing,
    ``finding`` when any cell's check reverses it, or ties it with the power to see it (listed),
    ``inconclusive`` otherwise (an under-powered tie, a variant that did not learn; listed)."""
    cfg.validate()
    t0 = time.perf_counter()
    cells, checks = [], {"s1": [], "s2": []}
    for i, (ds, n, seed) in enumerate(cfg.cells()):
        if progress is not None:
            progress(f"cell {i + 1}/{len(cfg.cells())}: {ds} N={n} seed {seed}")
        orders = min(cfg.orders, math.factorial(n))
        pc = ProbeConfig(model=cfg.model, dataset=ds, shots=n, orders=orders, test_inputs=cfg.test_inputs,
                         variants=cfg.variants, epochs=cfg.epochs, device=cfg.device, dtype=cfg.dtype, seed=seed,
                         k=cfg.k, n_boot=cfg.n_boot, level=cfg.level, lr_grid=cfg.lr_grid, until_converged=True,
                         peers=True, nulls=cfg.nulls, null_orders=cfg.null_orders, lr_epochs=cfg.lr_epochs,
                         eval_every=cfg.eval_every)
        rep = run_probe(pc, bar=bar, sparsity=(i == 0))
        s = rep.summary
        cell = {k: s[k] for k in ("dataset", "shots", "seed", "orders", "test_inputs", "accuracy", "order_sensitivity",
                                  "fine_tuning", "comparisons", "metrics", "s1", "pattern", "trajectory", "timings",
                                  "variants", "rows")}
        cell["s2"] = _cell_s2(rep.pattern, s["metrics"])
        if "sparsity" in s:
            sparsity = s["sparsity"]
        cells.append(cell)
        checks["s1"] += rep.s1
        checks["s2"] += rep.pattern
    return {"protocol": "shen", "config": _config_json(cfg), "cells": cells,
            "s2": aggregate_s2(checks["s2"]), "s1": _count(checks["s1"]), "sparsity": sparsity,
            "flags": [f"{c['dataset']} N={c['shots']} seed {c['seed']}: {f}" for c in cells for f in c["metrics"]["flags"]],
            "seconds": time.perf_counter() - t0, "checks": checks}


def _config_json(cfg: ProtocolConfig) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(cfg).items()}


def _count(cs: list[Check]) -> dict:
    out: dict[str, int] = {}
    for c in cs:
        out[c.verdict] = out.get(c.verdict, 0) + 1
    return out


def _cell_s2(pattern: list[Check], metrics: dict) -> list[dict]:
    """Per (variant, metric) of the cell: supports / ties / reverses, the verdict, and whether the metric
    beats each of its nulls."""
    rows = []
    for c in pattern:
        s = c.setting
        nulls = metrics["variants"].get(s["variant"], {}).get(s["metric"], {}).get("nulls", {})
        rows.append({"variant": s["variant"], "metric": s["metric"], "outcome": s["outcome"], "verdict": c.verdict,
                     "reordered": c.predicted, "variant_agreement": c.measured, "effect": s["effect"],
                     "inconclusive": c.inconclusive,
                     "beats_nulls": {k: v.get("beats") for k, v in nulls.items() if k != "icl_reordered"}})
    return rows


S2_VARIANTS = ("gd", "gd-mid", "gd-deep")  # the GD and ĜD variants S2 speaks about


def aggregate_s2(pattern: list[Check]) -> dict:
    """One S2 verdict from every cell's checks, exactly as S2 is stated: the pattern on every dataset and N
    against every GD / ĜD variant and both metrics."""
    mine = [c for c in pattern if c.setting.get("variant") in S2_VARIANTS]
    bad = [c for c in mine if c.verdict == FINDING]
    weak = [c for c in mine if c.verdict == INCONCLUSIVE]
    verdict = FINDING if bad else INCONCLUSIVE if (weak or not mine) else HELD
    name = lambda c: (f"{c.setting['dataset']} N={c.setting['shots']} seed {c.setting['seed']} "  # noqa: E731
                      f"{c.setting['variant']} {c.setting['metric']}")
    return {"verdict": verdict, "checks": len(mine), "held": sum(c.verdict == HELD for c in mine),
            "not_reproduced": [{"cell": name(c), "outcome": c.setting["outcome"], "effect": c.setting["effect"]}
                               for c in bad],
            "inconclusive": [{"cell": name(c), "why": c.inconclusive} for c in weak]}
