"""Pre-training on fresh prompts every step, fast enough to reach the population optimum.

Recipe (each part measured in notes/trained-transformers.md against Adam at a fixed rate, batch 2048, the way the
reference notebooks of Ahn et al. (2023) train): Adam with a short linear warm-up and a cosine decay
to ``lr_final``; the batch grows geometrically from ``batch_start`` to ``batch`` over the decay (cheap
noisy steps while far away, large ones near the optimum); then a constant-rate tail whose iterates are
averaged (Polyak & Juditsky 1992) — averaging attains the least-squares rate in Γ, so the noise floor
falls like 1/√(prompts seen in the tail) instead of stalling at the rate-dependent SGD floor.

Query averaged analytically (issue 14): for one-layer LSA without the query among the keys the
prediction is linear in the query, ŷ = cᵀx_q with c = Gᵀ S u fixed by the context
(:meth:`iclgd.empirics.models.LSA.query_weights`). For a linear target y = wᵀx + ε, x_q ~ N(0, Σ),
ε_q ~ N(0, σ²) independent of the context and the task,

    E_{x_q, ε_q} (cᵀx_q − wᵀx_q − ε_q)² = (c − w)ᵀ Σ (c − w) + σ²,

so :func:`query_averaged_loss` is the conditional expectation of the sampled loss given (context, w):
the same expectation and, by Rao–Blackwell, a gradient of no larger variance. Near the optimum the
gain is large: with e = c − w and Σ = I the sampled Γ-gradient g x_qᵀ(x_qᵀe − ε) has second moment
trace (d + 2)‖e‖² + dσ² per ‖g‖², the averaged one ‖e‖² (measured at the trained optimum of M1, d = 5, n = 20,
σ² = 0.5: 8.4× less total gradient variance over all weights, notes/benchmarks-and-trainer-speed.md). ``train``
uses it whenever the model says ``linear_in_query`` and the sampler's law is linear in x
(:class:`PromptSampler`); nonlinear targets, softmax and multi-layer models keep the sampled loss.
With ``Schedule.reuse`` that loss is taken over every prompt drawn so far, through moments whose
size does not grow with the sample (:class:`ContextMoments`): training on all prompts seen instead of
the last batch, which reaches a given error in about as many prompts as least squares over the Γ
features does (bench/, notes/benchmarks-and-trainer-speed.md).

Everything is R replicas at once (see :mod:`iclgd.empirics.models`): the loss is the sum of the R
replicas' losses, Adam is per-coordinate, so the replicas train independently, each on its own
prompts, drawn on the model's device. Never reads a claim: the only link to an answer is an
optional ``stop`` callback.
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

from .models import tokens
from .sampling import query_covariance, sample_prompts


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
    # one-layer LSA on a linear target only: each step's loss is the query-averaged loss over every
    # prompt drawn so far (:class:`ContextMoments`), not over the step's batch alone
    reuse: bool = False
    # the schedule to follow instead where ``reuse`` is impossible (None: this one, on fresh batches)
    fallback: Optional["Schedule"] = None

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
    losses: np.ndarray  # (steps, R) training loss of each step (its batch; "reused": every prompt so far)
    steps: int  # steps taken
    seconds: float  # wall time of the loop (synchronised on CUDA)
    stopped: str  # "budget" or "stop" (the callback said so)
    device: str
    dtype: str
    prompts: int  # prompts drawn per replica
    query: str = "sampled"  # the loss: "sampled", "analytic" (query averaged out) or "reused" (and over all prompts)
    trace: dict = field(default_factory=dict)  # name -> (K, R, ...) per-step values over the tail


class PromptSampler:
    """``sample(batch, generator) -> (X (R, batch, n+1, d), y (R, batch, n+1))``: fresh prompts for each
    replica from :func:`iclgd.empirics.sampling.sample_prompts` with the keyword arguments ``law``
    (Sigma, Sigma_w, sigma2, phi, m, scales, x_uniform, mean); :meth:`tasks` adds each prompt's effective task vector."""

    def __init__(self, n: int, d: int, replicas: int, *, device=None, dtype=torch.float32, **law):
        self.n, self.d, self.replicas, self.device, self.dtype, self.law = n, d, replicas, device, dtype, law
        self.linear = law.get("phi", "linear") == "linear"  # y = wᵀx + ε: the query can be averaged out
        self.sigma2 = float(law.get("sigma2", 0.0))
        # E[x_q x_qᵀ] of the law: the analytic query average needs only this second moment (x_q zero-mean,
        # independent of context and task), so it holds for U(−a, a) coordinates ((a²/3) I) and a prior mean alike
        C = query_covariance(d, law.get("Sigma"), law.get("x_uniform"))
        self.query_chol = None if C is None else torch.linalg.cholesky(C.to(device)).to(dtype)  # (d, d), Σ = L Lᵀ

    def _draw(self, batch: int, generator: torch.Generator):
        return sample_prompts(self.replicas * batch, self.n, self.d, generator=generator, device=self.device,
                              dtype=self.dtype, **self.law)

    def __call__(self, batch: int, generator: torch.Generator):
        p = self._draw(batch, generator)
        R, n, d = self.replicas, self.n, self.d
        return p.X.view(R, batch, n + 1, d), p.y.view(R, batch, n + 1)

    def tasks(self, batch: int, generator: torch.Generator):
        """(X, y, w) with w (R, batch, d) such that y = Xw + ε (linear law only): w = m^{-½} Σ_k D w_k."""
        if not self.linear:
            raise ValueError(f"phi: the target {self.law.get('phi')!r} is not linear in x")
        p = self._draw(batch, generator)
        scales = self.law.get("scales")
        v = p.w if scales is None else p.w * torch.as_tensor(scales, device=p.w.device, dtype=p.w.dtype)
        w = v.sum(1) / math.sqrt(self.law.get("m", 1))  # (R·B, d)
        R, n, d = self.replicas, self.n, self.d
        return p.X.view(R, batch, n + 1, d), p.y.view(R, batch, n + 1), w.view(R, batch, d)


def prompt_sampler(n: int, d: int, replicas: int, *, device=None, dtype=torch.float32, **law) -> PromptSampler:
    """Fresh prompts for ``replicas`` models (see :class:`PromptSampler`)."""
    return PromptSampler(n, d, replicas, device=device, dtype=dtype, **law)


def sampled_loss(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each replica's mean (ŷ − y_q)² over the batch: X (R, B, n+1, d), y (R, B, n+1) -> (R,)."""
    return (model(X, y) - y[..., -1]).square().mean(-1)


def query_averaged_loss(model: nn.Module, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, sigma2: float,
                        query_chol: Optional[torch.Tensor] = None) -> torch.Tensor:
    """E over x_q (zero mean, E[x_q x_qᵀ] = LLᵀ, independent of the context) and ε_q ~ N(0, σ²) of
    (ŷ − y_q)², averaged over the batch -> (R,):
    mean_b (c_b − w_b)ᵀ Σ (c_b − w_b) + σ², c from ``model.query_weights`` (the query rows are unread).
    w (R, B, d) the task vectors (:meth:`PromptSampler.tasks`); ``query_chol`` None means Σ = I."""
    e = model.query_weights(X, y) - w  # (R, B, d)
    if query_chol is not None:
        e = e @ query_chol  # rows Lᵀe: eᵀΣe = ‖Lᵀe‖²
    return e.square().sum(-1).mean(-1) + sigma2


class ContextMoments:
    """Running moments of every prompt drawn so far that fix the query-averaged loss of one-layer LSA.

    With s_b the U = D(D+1)/2 upper-triangular entries of S_b = (1/n) Σ_i z_i z_iᵀ, the query weights
    are linear in s_b: c_b = Gᵀ S_b u = K s_b, K[a, (i, j)] = u_i G_ja + u_j G_ia (i < j), u_i G_ia
    (i = j). So the mean of :func:`query_averaged_loss` over N prompts is, exactly,

        L̂ = tr(Kᵀ Σ K T) − 2 tr(K V) + q + σ²,  T = mean s sᵀ, V = mean s (Σw)ᵀ, q = mean wᵀ Σ w,

    at a cost per step independent of N: minimising it is training on all N prompts at once (empirical
    risk over a growing sample) instead of on the last batch. Accumulated in float64.
    """

    def __init__(self, sample: PromptSampler, replicas: int, device, dtype):
        d = sample.d
        D = d + 1
        self.d, self.sigma2, self.dtype = d, sample.sigma2, dtype
        L = sample.query_chol
        self.Sigma = None if L is None else (L.double() @ L.double().mT)  # (d, d); None: Σ = I
        self.iu = torch.triu_indices(D, D, device=device)  # (2, U)
        U = self.iu.shape[1]
        # K = Kf P for Kf[a, (i, j)] = u_i G_ja flattened: P[(i, j), k] = 1 where {i, j} is pair k
        P = torch.zeros(D, D, U, device=device, dtype=dtype)
        k = torch.arange(U, device=device)
        P[self.iu[0], self.iu[1], k] = 1
        P[self.iu[1], self.iu[0], k] = 1
        self.P = P.flatten(0, 1)  # (D², U)
        kw = dict(device=device, dtype=torch.float64)
        self.T = torch.zeros(replicas, U, U, **kw)  # mean s sᵀ
        self.V = torch.zeros(replicas, U, d, **kw)  # mean s (Σw)ᵀ
        self.q = torch.zeros(replicas, **kw)  # mean wᵀΣw
        self.count = 0
        self._cast()

    def _cast(self):
        self.T_, self.Vt_, self.q_ = self.T.to(self.dtype), self.V.mT.to(self.dtype), self.q.to(self.dtype)

    def add(self, X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> None:
        """Add prompts X (R, B, n+1, d), y (R, B, n+1) with tasks w (R, B, d) (query rows unread)."""
        Z = tokens(X, y)[..., :-1, :]  # (R, B, n, D)
        S = Z.mT @ Z / Z.shape[-2]  # (R, B, D, D)
        s = S[..., self.iu[0], self.iu[1]].double()  # (R, B, U)
        w = w.double()
        Sw = w if self.Sigma is None else w @ self.Sigma  # (R, B, d)
        B, N = s.shape[1], self.count
        self.count = N + B
        a, b = N / self.count, 1.0 / self.count
        self.T.mul_(a).add_(s.mT @ s, alpha=b)
        self.V.mul_(a).add_(s.mT @ Sw, alpha=b)
        self.q.mul_(a).add_((Sw * w).sum(-1).sum(-1), alpha=b)
        self._cast()

    def loss(self, model: nn.Module) -> torch.Tensor:
        """L̂ for each replica (R,), differentiable in the model's weights."""
        u = (model.W_V.mT @ model.h.unsqueeze(-1)).squeeze(-1)  # (R, D)
        G = (model.W_K.mT @ model.W_Q)[..., : self.d]  # (R, D, d)
        K = (G.mT.unsqueeze(-2) * u[:, None, :, None]).flatten(-2) @ self.P  # (R, d, U)
        SK = K if self.Sigma is None else self.Sigma.to(K) @ K  # (R, d, U)
        quad = ((SK @ self.T_) * K).sum((-2, -1))  # tr(Kᵀ Σ K T)
        cross = (K * self.Vt_).sum((-2, -1))  # tr(K V), V = mean s (Σw)ᵀ
        return quad - 2 * cross + self.q_ + self.sigma2


def _objective(model: nn.Module, sample, query: str, reuse: bool = False):
    """``step(batch, generator) -> (R,) loss`` and the name of the loss it uses."""
    if query not in ("auto", "analytic", "sampled"):
        raise ValueError(f"query: expected 'auto', 'analytic' or 'sampled', got {query!r}")
    can = isinstance(sample, PromptSampler) and sample.linear and getattr(model, "linear_in_query", False)
    if query == "analytic" and not can:
        raise ValueError("query: the analytic query average needs a one-layer LSA without the query among the "
                         "keys and a PromptSampler with a linear target")
    if query == "sampled" or not can:
        return (lambda batch, gen: sampled_loss(model, *sample(batch, gen))), "sampled"
    if reuse:
        param = next(model.parameters())
        moments = ContextMoments(sample, model.replicas, param.device, param.dtype)

        def step(batch, gen):
            moments.add(*sample.tasks(batch, gen))
            return moments.loss(model)

        return step, "reused"
    return (lambda batch, gen: query_averaged_loss(model, *sample.tasks(batch, gen), sample.sigma2,
                                                   sample.query_chol)), "analytic"


class cpu_threads:
    """Scope torch's intra-op threads on CPU (restored on exit; no-op for CUDA or ``None``).

    The per-step kernels here are tiny: one thread avoids the synchronisation overhead, which on a
    busy 2-core machine was measured at 10× (notes/trained-transformers.md)."""

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
    query: str = "auto",
) -> TrainResult:
    """Minimise each replica's mean squared error on the hidden query label, E(ŷ − y_q)².

    ``sample(batch, generator)`` draws fresh prompts (see :func:`prompt_sampler`). ``query``: "auto"
    averages the query out analytically (:func:`query_averaged_loss`) where the model and the law
    allow it, else samples it; "analytic" insists (ValueError where impossible); "sampled" never. ``stop(model, t)``
    is asked every ``check_every`` steps with the model as it would be returned (the running average
    in the tail). ``trace(model)`` maps the raw iterate to named tensors recorded at every tail step.
    ``progress(t, steps, loss)`` is told the step and the mean training loss. ``threads``: torch
    intra-op threads during the loop on CPU (see :class:`cpu_threads`; None leaves them alone).
    """
    with cpu_threads(threads, next(model.parameters()).device):
        return _train(model, sample, schedule, generator, stop, trace, progress, query)


def _train(model, sample, schedule, generator, stop, trace, progress, query) -> TrainResult:
    objective, query = _objective(model, sample, query, schedule.reuse)
    if schedule.reuse and query != "reused" and schedule.fallback is not None:
        schedule = schedule.fallback
    param = next(model.parameters())
    device, dtype = param.device, param.dtype
    opt = torch.optim.Adam(model.parameters(), lr=schedule.lr, betas=schedule.betas, fused=True)  # one kernel
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
        loss = objective(batch, generator)  # (R,) on fresh prompts
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
        query=query,
        trace={k: torch.stack(v).cpu() for k, v in traced.items()},
    )
