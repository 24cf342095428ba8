"""Pre-training on fresh prompts every step, fast enough to reach the population optimum.

Recipe (each part measured in notes/issue4.md against Adam at a fixed rate, batch 2048, the way the
reference notebooks of Ahn et al. (2023) train): Adam with a short linear warm-up and a cosine decay
to ``lr_final``; the batch grows geometrically from ``batch_start`` to ``batch`` over the decay (cheap
noisy steps while far away, large ones near the optimum); then a constant-rate tail whose iterates are
averaged (Polyak & Juditsky 1992) — averaging attains the least-squares rate in Γ, so the noise floor
falls like 1/√(prompts seen in the tail) instead of stalling at the rate-dependent SGD floor.

Everything is R replicas at once (see :mod:`iclgd.empirics.models`): the loss is the sum of the R
replicas' losses, Adam is per-coordinate, so the replicas train independently, each on its own
prompts. Never reads a claim: the only link to an answer is an optional ``stop`` callback.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from .sampling import sample_prompts


@dataclass(frozen=True)
class Schedule:
    """Adam schedule: warm-up → cosine decay (batch ramps up) → constant-rate averaged tail."""

    steps: int = 1200  # step budget
    lr: float = 1e-2  # peak Adam learning rate
    lr_final: float = 5e-4  # rate at the end of the decay and through the tail
    warmup: int = 20  # linear warm-up steps
    tail: float = 0.3  # fraction of the steps run at lr_final with iterate averaging (0: none)
    batch: int = 2048  # prompts per replica per step at the end of the ramp
    batch_start: int = 256  # prompts per replica per step at the start
    betas: tuple = (0.9, 0.999)  # Adam β₁, β₂
    check_every: int = 10  # steps between stop / progress callbacks

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"steps: must be >= 1, got {self.steps}")
        if not (0 <= self.tail < 1):
            raise ValueError(f"tail: must be in [0, 1), got {self.tail}")
        if self.lr <= 0 or self.lr_final <= 0:
            raise ValueError("lr, lr_final: must be > 0")
        if not (1 <= self.batch_start <= self.batch):
            raise ValueError(f"batch_start: must be in [1, batch], got {self.batch_start}")

    @property
    def tail_start(self) -> int:
        return self.steps - int(round(self.tail * self.steps)) if self.tail else self.steps

    def lr_at(self, t: int) -> float:
        if t < self.warmup:
            return self.lr * (t + 1) / self.warmup
        decay = max(1, self.tail_start - self.warmup)
        x = min(1.0, (t - self.warmup) / decay)
        return self.lr_final + 0.5 * (self.lr - self.lr_final) * (1 + math.cos(math.pi * x))

    def batch_at(self, t: int) -> int:
        x = min(1.0, t / max(1, self.tail_start))
        return int(round(self.batch_start * (self.batch / self.batch_start) ** x))


@dataclass
class TrainResult:
    model: nn.Module  # the trained ensemble (tail-averaged weights when the schedule has a tail)
    losses: np.ndarray  # (steps, R) training loss of each step's fresh batch
    steps: int  # steps taken
    seconds: float  # wall time of the loop (synchronised on CUDA)
    stopped: str  # "budget" or "stop" (the callback said so)
    device: str
    dtype: str
    prompts: int  # prompts drawn per replica
    trace: dict = field(default_factory=dict)  # name -> (K, R, ...) per-step values over the tail


def prompt_sampler(n: int, d: int, replicas: int, *, device=None, dtype=torch.float32, **law) -> Callable:
    """``sample(batch, generator) -> (X (R, batch, n+1, d), y (R, batch, n+1))``: fresh prompts for each
    replica from :func:`iclgd.empirics.sampling.sample_prompts` with the keyword arguments ``law``
    (Sigma, Sigma_w, sigma2, phi, m, scales)."""

    def sample(batch: int, generator: torch.Generator):
        p = sample_prompts(replicas * batch, n, d, generator=generator, device=device, dtype=dtype, **law)
        return p.X.view(replicas, batch, n + 1, d), p.y.view(replicas, batch, n + 1)

    return sample


class cpu_threads:
    """Scope torch's intra-op threads on CPU (restored on exit; no-op for CUDA or ``None``).

    The per-step kernels here are tiny: one thread avoids the synchronisation overhead, which on a
    busy 2-core machine was measured at 10× (notes/issue4.md)."""

    def __init__(self, threads: Optional[int], device=None):
        self.threads = threads if threads and torch.device(device or "cpu").type == "cpu" else None

    def __enter__(self):
        if self.threads:
            self.saved = torch.get_num_threads()
            torch.set_num_threads(self.threads)

    def __exit__(self, *exc):
        if self.threads:
            torch.set_num_threads(self.saved)


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def train(
    model: nn.Module,
    sample: Callable,
    schedule: Schedule = Schedule(),
    *,
    generator: torch.Generator,
    stop: Optional[Callable[[nn.Module, int], bool]] = None,
    trace: Optional[Callable[[nn.Module], dict]] = None,
    progress: Optional[Callable[[int, int, float], None]] = None,
    threads: Optional[int] = 1,
) -> TrainResult:
    """Minimise each replica's mean squared error on the hidden query label, E(ŷ − y_q)².

    ``sample(batch, generator)`` draws fresh prompts (see :func:`prompt_sampler`). ``stop(model, t)``
    is asked every ``check_every`` steps with the model as it would be returned (the running average
    in the tail). ``trace(model)`` maps the raw iterate to named tensors recorded at every tail step.
    ``progress(t, steps, loss)`` is told the step and the mean training loss. ``threads``: torch
    intra-op threads during the loop on CPU (see :class:`cpu_threads`; None leaves them alone).
    """
    with cpu_threads(threads, next(model.parameters()).device):
        return _train(model, sample, schedule, generator, stop, trace, progress)


def _train(model, sample, schedule, generator, stop, trace, progress) -> TrainResult:
    param = next(model.parameters())
    device, dtype = param.device, param.dtype
    opt = torch.optim.Adam(model.parameters(), lr=schedule.lr, betas=schedule.betas)
    avg = copy.deepcopy(model) if schedule.tail else None
    averaged = 0
    losses = torch.empty(schedule.steps, getattr(model, "replicas", 1), device=device, dtype=dtype)
    traced: dict[str, list] = {}
    prompts, stopped, t = 0, "budget", -1
    _sync(device)
    t0 = time.perf_counter()
    for t in range(schedule.steps):
        for group in opt.param_groups:
            group["lr"] = schedule.lr_at(t)
        batch = schedule.batch_at(t)
        X, y = sample(batch, generator)  # (R, B, n+1, d), (R, B, n+1)
        loss = (model(X, y) - y[..., -1]).square().mean(-1)  # (R,)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        losses[t] = loss.detach()
        prompts += batch
        if t >= schedule.tail_start and avg is not None:
            averaged += 1
            with torch.no_grad():
                for a, p in zip(avg.parameters(), model.parameters()):
                    a.add_(p - a, alpha=1.0 / averaged)  # running mean of the tail iterates
            if trace is not None:
                for k, v in trace(model).items():
                    traced.setdefault(k, []).append(v.detach())
        current = avg if averaged else model
        if (t + 1) % schedule.check_every == 0 or t + 1 == schedule.steps:
            if progress is not None:
                progress(t + 1, schedule.steps, float(loss.detach().mean()))
            if stop is not None and stop(current, t + 1):
                stopped = "stop"
                break
    _sync(device)
    seconds = time.perf_counter() - t0
    return TrainResult(
        model=avg if averaged else model,
        losses=losses[: t + 1].cpu().double().numpy(),
        steps=t + 1,
        seconds=seconds,
        stopped=stopped,
        device=str(device),
        dtype=str(dtype).replace("torch.", ""),
        prompts=prompts,
        trace={k: torch.stack(v).cpu() for k, v in traced.items()},
    )
