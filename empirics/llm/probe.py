"""One probe run: a demo set under O orderings, read by ICL and by each update algorithm.

Measurement only (Shen, Mishra & Khashabi 2024, §5): the outputs are raw next-token distributions
(O, I, V); comparing them with the paper's claims is :mod:`iclgd.properties.llm`'s job.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from .data import DatasetSpec, Encoded, Task, draw_orderings, encode, sample_task
from .finetune import FineTuneResult, Variant, finetune_distributions, next_token_distributions
from .icl import icl_distributions
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

    @property
    def gold(self) -> torch.Tensor:
        return torch.as_tensor(self.enc.gold)

    @property
    def label_tokens(self) -> torch.Tensor:
        return torch.as_tensor(self.enc.label_tokens)


def collect(lm: LoadedModel, ds: DatasetSpec, *, shots: int, orders: int, test_inputs: int, seed: int,
            variants: Sequence[Variant], epochs: int, eval_every: int = 0, k: int = 10,
            bar: Callable[[str, int], object] = no_bar) -> ProbeOutputs:
    """Draw the task (``seed``), ICL under ``orders`` orderings, then each variant per ordering."""
    t_start = time.perf_counter()
    task = sample_task(ds, shots, test_inputs, seed)
    enc = encode(task, lm.tokenizer)
    perms = draw_orderings(shots, orders, seed)
    out = ProbeOutputs(lm.name, task, enc, perms, icl=torch.empty(0), zero_shot=torch.empty(0), seed=seed)
    b = bar("ICL", len(perms) * test_inputs)
    t0 = time.perf_counter()
    out.icl = icl_distributions(lm.model, enc, perms, progress=b.update)
    out.seconds["icl"] = time.perf_counter() - t0
    b.close()
    out.zero_shot = next_token_distributions(lm.model, enc)
    for var in variants:
        b = bar(var.name, len(perms) * epochs)
        t0 = time.perf_counter()
        out.variants[var.name] = finetune_distributions(lm.model, enc, perms, var, epochs=epochs,
                                                        eval_every=eval_every, reference=out.icl, k=k,
                                                        progress=b.update)
        out.seconds[var.name] = time.perf_counter() - t0
        b.close()
    out.seconds["total"] = time.perf_counter() - t_start
    return out
