"""One probe run: a demo set under O orderings, read by ICL and by each update algorithm.

Measurement only (Shen, Mishra & Khashabi 2024, §5): the outputs are raw next-token distributions
(O, I, V); comparing them with the paper's claims is :mod:`iclgd.properties.llm`'s job.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, Collection, Optional, Sequence

import numpy as np
import torch

from .data import DatasetSpec, Encoded, Task, draw_orderings, encode, sample_task
from .finetune import FineTuneResult, Variant, finetune_distributions, next_token_distributions, select_lr
from .errors import ProbeInputError
from .icl import icl_distributions, icl_distributions_naive
from .loading import LoadedModel


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def no_bar(desc: str, total: int) -> _NoBar:
    return _NoBar()


@dataclass
class ProbeOutputs:
    model: str
    task: Task
    enc: Encoded
    orders: list[tuple[int, ...]]
    icl: torch.Tensor  # (O, I, V) p_ICL
    zero_shot: torch.Tensor  # (I, V) the base model on the test inputs alone
    variants: dict[str, FineTuneResult] = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)  # wall times: icl, each variant, total
    seed: int = 0
    lr_search: dict = field(default_factory=dict)  # variant -> {lr: final demo loss} when the lr was selected
    internals: dict = field(default_factory=dict)  # "icl": (O, I, …), "zero_shot": (I, …) per-layer internals
    nulls: dict = field(default_factory=dict)  # null name -> what collect() measured for it

    @property
    def gold(self) -> torch.Tensor:
        return torch.as_tensor(self.enc.gold)

    @property
    def label_tokens(self) -> torch.Tensor:
        return torch.as_tensor(self.enc.label_tokens)


NULLS = ("random-update", "fp", "random-labels", "untrained")  # the nulls collect() can measure


def collect(lm: LoadedModel, ds: DatasetSpec, *, shots: int, orders: int, test_inputs: int, seed: int,
            variants: Sequence[Variant], epochs: int, eval_every: int = 0, k: int = 10,
            bar: Callable[[str, int], object] = no_bar, lr_grid: Optional[Sequence[float]] = None,
            fixed_lr: Collection[str] = (), until_converged: bool = False, internals: bool = False,
            nulls: Collection[str] = (), null_orders: Optional[int] = None,
            lr_epochs: Optional[int] = None) -> ProbeOutputs:
    """Draw the task (``seed``), ICL under ``orders`` orderings, then each variant per ordering.

    ``lr_grid``: choose each variant's learning rate from it (:func:`.finetune.select_lr`), except
    the variants named in ``fixed_lr``, each grid run capped at ``lr_epochs`` (None: ``epochs``);
    ``until_converged``: ``epochs`` is a cap (see :mod:`.finetune`);
    ``internals``: also the per-layer internals of ICL, zero-shot and every variant (:mod:`.peers`).
    ``nulls`` (of :data:`NULLS`): "random-update" — each variant's update replaced by a Gaussian one
    of the same norm; "fp" — ICL again in another batch composition (one row per batch) and without
    the KV cache, on the first two orderings (floating-point drift); "random-labels" — the whole
    measurement with the demos' labels redrawn uniformly; "untrained" — the whole measurement on the
    same architecture with freshly initialised weights (seeded). ``null_orders``: the two whole
    re-measurements (random labels, untrained) on the first that many orderings only (None: all) —
    their metrics are means over orderings per input, so fewer orderings make a noisier, not a biased,
    null."""
    unknown = set(nulls) - set(NULLS)
    if unknown:
        raise ProbeInputError("nulls", f"unknown null(s) {sorted(unknown)}; known: {', '.join(NULLS)}")
    t_start = time.perf_counter()
    task = sample_task(ds, shots, test_inputs, seed)
    enc = encode(task, lm.tokenizer)
    perms = draw_orderings(shots, orders, seed)
    out = ProbeOutputs(lm.name, task, enc, perms, icl=torch.empty(0), zero_shot=torch.empty(0), seed=seed)
    kw = dict(epochs=epochs, eval_every=eval_every, k=k, bar=bar, until_converged=until_converged,
              internals=internals, null_seed=seed if "random-update" in nulls else None)
    again = {**kw, "null_seed": None, "eval_every": 0}  # a null's whole measurement: no trajectory
    t0 = time.perf_counter()
    if lr_grid is not None:
        chosen = []
        for var in variants:
            if var.name not in fixed_lr:
                var, out.lr_search[var.name] = select_lr(lm.model, enc, var, lr_grid,
                                                             epochs=min(epochs, lr_epochs or epochs))
            chosen.append(var)
        variants = chosen
    out.seconds["lr_search"] = time.perf_counter() - t0
    m = measure(lm.model, enc, perms, variants, seconds=out.seconds, **kw)
    out.icl, out.zero_shot, out.variants, out.internals = m["icl"], m["zero_shot"], m["variants"], m["internals"]
    if "fp" in nulls:
        t0 = time.perf_counter()
        two = perms[:2]
        out.nulls["fp"] = {"batch": icl_distributions(lm.model, enc, two, memory_mb=0),
                           "uncached": icl_distributions_naive(lm.model, enc, two)}
        out.seconds["null_fp"] = time.perf_counter() - t0
    null_perms = perms if null_orders is None else perms[:null_orders]
    if "random-labels" in nulls:
        t0 = time.perf_counter()
        rng = np.random.default_rng([seed, 2])
        words = _label_words(lm, task)
        relabel = dataclasses.replace(enc, demo_labels=tuple(words[int(y)] for y in rng.integers(0, len(words), shots)))
        out.nulls["random-labels"] = {"labels": [words.index(w) for w in relabel.demo_labels],
                                      **measure(lm.model, relabel, null_perms, variants, **again,
                                                zero_shot=(out.zero_shot, out.internals.get("zero_shot")))}
        out.seconds["null_random_labels"] = time.perf_counter() - t0
    if "untrained" in nulls:
        t0 = time.perf_counter()
        fresh = untrained_copy(lm.model, seed)
        out.nulls["untrained"] = measure(fresh, enc, null_perms, variants, **again)
        del fresh
        out.seconds["null_untrained"] = time.perf_counter() - t0
    out.seconds["total"] = time.perf_counter() - t_start
    return out


def _label_words(lm: LoadedModel, task) -> list[tuple[int, ...]]:
    """Token ids of every class's label word (what a demo's label tokenizes to)."""
    return [tuple(lm.tokenizer(w, add_special_tokens=False)["input_ids"]) for w in task.spec.label_words]


def measure(model, enc: Encoded, perms, variants: Sequence[Variant], *, epochs: int, eval_every: int = 0,
            k: int = 10, bar=no_bar, until_converged: bool = False, internals: bool = False,
            null_seed: Optional[int] = None, seconds: Optional[dict] = None,
            zero_shot: Optional[tuple] = None) -> dict:
    """ICL, zero-shot and every variant on one encoded task: {"icl", "zero_shot", "variants", "internals"}.
    ``zero_shot``: (outputs, internals or None) of this model on these queries, already measured (the
    random-labels null: relabelling changes the demos only), instead of measuring them again."""
    seconds = {} if seconds is None else seconds
    I = len(enc.queries)
    b = bar("ICL", len(perms) * I)
    t0 = time.perf_counter()
    ints = {}
    if internals:
        from .peers import Recorder

        with Recorder(model) as rec:
            icl = icl_distributions(model, enc, perms, progress=b.update, recorder=rec)
        ints["icl"] = {key: v.reshape(len(perms), I, *v.shape[1:]) for key, v in rec.result().items()}
        zs, ints["zero_shot"] = zero_shot or next_token_distributions(model, enc, internals=True)
    else:
        icl = icl_distributions(model, enc, perms, progress=b.update)
        zs = zero_shot[0] if zero_shot else next_token_distributions(model, enc)
    seconds["icl"] = time.perf_counter() - t0
    b.close()
    results = {}
    for var in variants:
        t0 = time.perf_counter()
        b = bar(var.name, len(perms) * epochs)
        results[var.name] = finetune_distributions(model, enc, perms, var, epochs=epochs, eval_every=eval_every,
                                                   reference=icl, k=k, progress=b.update,
                                                   until_converged=until_converged, internals=internals,
                                                   null_seed=null_seed, base_probs=zs)
        seconds[var.name] = time.perf_counter() - t0
        b.close()
    return {"icl": icl, "zero_shot": zs, "variants": results, "internals": ints}


def untrained_copy(model, seed: int):
    """The same architecture with freshly initialised weights (the model's own init, seeded; the global
    RNG is restored): Deutch et al.'s untrained control."""
    from transformers import AutoModelForCausalLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = AutoModelForCausalLM.from_config(model.config)
    p = next(model.parameters())
    return fresh.to(device=p.device, dtype=p.dtype).eval().requires_grad_(False)
