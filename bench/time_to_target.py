"""Time and prompts to a target error ‖Γ − Γ*‖/‖Γ*‖, for four ways to learn a one-layer LSA's Γ.

- ``ours``: :func:`iclgd.empirics.train.train` with the plan `iclgd train` uses (``PLANS["cli", "lsa"]``,
  or its schedule with one replica), the loss it selects (query averaged out analytically for linear
  targets) and `iclgd train --target-error`'s stop rule: the first replica within the target.
  Also recorded: when the replica mean Γ̄ (the Γ the checks test) gets there.
- ``reference``: the loop of Ahn et al.'s reference notebooks (chengxiang/LinearTransformer,
  `simple demonstration.ipynb`): full (W_K, W_Q, W_V, h), init std 1e-4, Adam at a fixed 1e-3,
  batch 2048, the query sampled. It sits on saddle plateaus, so it runs under a time budget.
- ``plain``: a stronger plain loop (issue 14): the merged W_KQ = W_Kᵀ W_Q and value row u = W_Vᵀ h as
  the parameters (ŷ = uᵀ S W_KQ v_q), init std 0.01, Adam 1e-3, batch 2048, the query sampled.
- ``einsum``: the leanest plain loop a user would write (issue 23): the same parameters and math as
  ``plain`` — ŷ = uᵀ S W_KQ v_q, init std 0.01, Adam 1e-3, batch 2048, the query sampled — as one einsum
  per step, no module machinery (``plain`` runs the LSA forward through ``functional_call``).
- ``floor``: the statistical floor — least squares of Γ over the Γ features from the same law, the
  query averaged out analytically: Γ̂ = (Σ_b g_b g_bᵀ)⁻¹ Σ_b g_b w_bᵀ (g = (1/n) Σ_i y_i x_i, w the
  task vector; it minimises Σ_b E_{x_q,ε}(g_bᵀΓx_q − y_q)² = Σ_b (Γᵀg_b − w_b)ᵀΣ(Γᵀg_b − w_b) + const),
  accumulated over chunks of ``FLOOR_CHUNK`` prompts.

Every method draws its prompts with the same sampler on the same device, runs float32 with one
intra-op thread on CPU, and checks its error every ``CHECK_EVERY`` steps (the floor: every chunk).
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field, replace

import torch

from iclgd.empirics.models import LSA, lsa_readout
from iclgd.empirics.sampling import generator
from iclgd.empirics.train import cpu_threads, prompt_sampler, sampled_loss, train
from iclgd.properties.spec import specs
from iclgd.properties.trained import PLANS, sampler_law
from iclgd.theory import Setting, get_claim

CHECK_EVERY = 10  # steps between error checks (all loops)
FLOOR_CHUNK = 256  # prompts per least-squares update of the floor
TARGETS = (0.02, 0.01)  # relative Frobenius errors timed in one run (the loop stops at the last)
RUNS: dict = {}  # (case, label) -> [Run] of this session (bench/test_bench_train.py, bench/conftest.py)


def cases() -> dict:
    """name -> (claim, Setting): every Spec's ``TrainedHooks.benchmarks`` (properties/papers), named
    ``<claim>-<label>``."""
    return {f"{sp.claim}-{label}": (sp.claim, s) for sp in specs("trained") for label, s in sp.trained.benchmarks}


@dataclass
class Run:
    """One run of one method: seconds and prompts (per replica) at the first check within each target."""

    method: str
    replicas: int
    seconds: dict = field(default_factory=dict)  # target -> s (absent: not reached)
    prompts: dict = field(default_factory=dict)  # target -> prompts per replica
    mean_seconds: dict = field(default_factory=dict)  # ours: when the replica mean Γ̄ got there
    mean_prompts: dict = field(default_factory=dict)
    total_seconds: float = 0.0
    steps: int = 0
    loss: str = "sampled"

    def reached(self, target: float) -> bool:
        return target in self.seconds


class _Clock:
    """Records the first time (and prompt count) each target is met; ``done`` once the last is."""

    def __init__(self, gstar: torch.Tensor):
        self.gstar, self.norm = gstar, float(gstar.norm())
        self.t0 = time.perf_counter()
        self.seconds, self.prompts, self.mean_seconds, self.mean_prompts = {}, {}, {}, {}

    def errors(self, gamma: torch.Tensor) -> tuple[float, float]:
        """(best replica's error, replica mean's error) for Γ (R, d, d)."""
        g = gamma.detach().double().cpu()
        best = float((g - self.gstar).flatten(1).norm(dim=1).min()) / self.norm
        return best, float((g.mean(0) - self.gstar).norm()) / self.norm

    def tick(self, gamma: torch.Tensor, prompts: int, device) -> bool:
        best, mean = self.errors(gamma)
        now = None
        for tgt in TARGETS:
            for err, secs, seen in ((best, self.seconds, self.prompts), (mean, self.mean_seconds, self.mean_prompts)):
                if err <= tgt and tgt not in secs:
                    if now is None:
                        _sync(device)
                        now = time.perf_counter() - self.t0
                    secs[tgt], seen[tgt] = now, prompts
        return min(TARGETS) in self.mean_seconds and min(TARGETS) in self.seconds


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _gstar(claim: str, setting: Setting) -> torch.Tensor:
    return torch.as_tensor(get_claim(claim).predict(setting, exact=False).gamma, dtype=torch.float64)


def ours(claim: str, setting: Setting, seed: int, device, replicas: int | None = None, max_seconds: float = 120):
    """`iclgd train`'s trainer (cli plan); ``replicas`` None = the plan's default count."""
    plan = PLANS[("cli", "lsa")]
    R = replicas or plan.replicas
    d, n = setting.d, setting.n
    gen = generator(seed, device)
    model = LSA(d, replicas=R, init_std=plan.init_std, generator=gen, device=device)
    sample = prompt_sampler(n, d, R, device=device, **sampler_law(claim, setting))
    sched = plan.schedule
    clock = None

    def stop(m, t):
        return clock.tick(m.readout()["gamma"], sum(sched.batch_at(s) for s in range(t)), device) or \
            time.perf_counter() - clock.t0 > max_seconds

    with cpu_threads(1, device):
        clock = _Clock(_gstar(claim, setting))
        res = train(model, sample, replace(sched, check_every=CHECK_EVERY), generator=gen, stop=stop, threads=None)
    return Run("ours", R, clock.seconds, clock.prompts, clock.mean_seconds, clock.mean_prompts,
               res.seconds, res.steps, res.query)


class _Merged(torch.nn.Module):
    """ŷ = uᵀ S W_KQ v_q with W_KQ (D, D) and u (D,) the parameters (one replica)."""

    def __init__(self, d, std, gen, device):
        super().__init__()
        D = d + 1
        self.W_KQ = torch.nn.Parameter(std * torch.randn(1, D, D, generator=gen, device=device))
        self.u = torch.nn.Parameter(std * torch.randn(1, D, generator=gen, device=device))
        self.eye = torch.eye(D, device=device).unsqueeze(0)
        self.lsa = LSA(d, device=device)  # the forward with W_K = W_V = I, W_Q = W_KQ, h = u
        for p in self.lsa.parameters():
            p.requires_grad_(False)

    def forward(self, X, y):
        return torch.func.functional_call(self.lsa, {"W_K": self.eye, "W_Q": self.W_KQ, "W_V": self.eye,
                                                     "h": self.u}, (X, y))

    def gamma(self):
        return lsa_readout(self.eye, self.W_KQ, self.eye, self.u)["gamma"]


class _Einsum(torch.nn.Module):
    """ŷ = uᵀ S W_KQ v_q as one einsum, S = (1/n) Σ_i z_i z_iᵀ over the context tokens z_i = (x_i, y_i),
    v_q = (x_q, 0); W_KQ (1, D, D) and u (1, D) the parameters (one replica)."""

    def __init__(self, d, std, gen, device):
        super().__init__()
        D = d + 1
        self.W_KQ = torch.nn.Parameter(std * torch.randn(1, D, D, generator=gen, device=device))
        self.u = torch.nn.Parameter(std * torch.randn(1, D, generator=gen, device=device))
        self.eye = torch.eye(D, device=device).unsqueeze(0)

    def forward(self, X, y):
        n = X.shape[-2] - 1
        Z = torch.cat([X[..., :n, :], y[..., :n, None]], -1)  # (1, B, n, D) context tokens
        vq = torch.nn.functional.pad(X[..., n, :], (0, 1))  # (1, B, D) = (x_q, 0)
        return torch.einsum("rbni,ri,rbnj,rjk,rbk->rb", Z, self.u, Z, self.W_KQ, vq) / n  # (1, B)

    def gamma(self):
        return lsa_readout(self.eye, self.W_KQ, self.eye, self.u)["gamma"]


def _plain_loop(method, model, gamma, claim, setting, seed, gen, device, max_seconds) -> Run:
    """Adam(lr 1e-3) at a fixed rate, batch 2048, the query sampled, until 1% or ``max_seconds``."""
    sample = prompt_sampler(setting.n, setting.d, 1, device=device, **sampler_law(claim, setting))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    step = 0
    with cpu_threads(1, device):
        clock = _Clock(_gstar(claim, setting))
        while time.perf_counter() - clock.t0 < max_seconds:
            loss = sampled_loss(model, *sample(2048, gen)).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % CHECK_EVERY == 0 and clock.tick(gamma(), 2048 * step, device):
                break
        _sync(device)
        total = time.perf_counter() - clock.t0
    return Run(method, 1, clock.seconds, clock.prompts, total_seconds=total, steps=step)


def reference(claim: str, setting: Setting, seed: int, device, max_seconds: float = 120) -> Run:
    gen = generator(seed, device)
    model = LSA(setting.d, init_std=1e-4 * math.sqrt(setting.d + 1), generator=gen, device=device)  # std 1e-4
    return _plain_loop("reference", model, lambda: model.readout()["gamma"], claim, setting, seed, gen, device,
                       max_seconds)


def plain(claim: str, setting: Setting, seed: int, device, max_seconds: float = 120) -> Run:
    gen = generator(seed, device)
    model = _Merged(setting.d, 0.01, gen, device)
    return _plain_loop("plain", model, model.gamma, claim, setting, seed, gen, device, max_seconds)


def einsum(claim: str, setting: Setting, seed: int, device, max_seconds: float = 120) -> Run:
    gen = generator(seed, device)
    model = _Einsum(setting.d, 0.01, gen, device)
    return _plain_loop("einsum", model, model.gamma, claim, setting, seed, gen, device, max_seconds)


def floor_moments(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Σ_b g_b g_bᵀ, Σ_b g_b w_bᵀ) in float64 for prompts X (B, n+1, d), y (B, n+1), tasks w (B, d):
    Γ̂ = A⁻¹C is the least-squares Γ with the query averaged out."""
    n = X.shape[-2] - 1
    g = (y[:, :n, None] * X[:, :n]).mean(1).double()  # (B, d)
    return g.mT @ g, g.mT @ w.double()


def floor(claim: str, setting: Setting, seed: int, device, max_seconds: float = 120) -> Run:
    """Streaming least squares over the Γ features (float64 accumulators), query averaged out."""
    d, n = setting.d, setting.n
    gen = generator(seed, device)
    sample = prompt_sampler(n, d, 1, device=device, **sampler_law(claim, setting))
    A = torch.zeros(d, d, device=device, dtype=torch.float64)  # Σ g gᵀ
    C = torch.zeros(d, d, device=device, dtype=torch.float64)  # Σ g wᵀ
    seen, chunks = 0, 0
    with cpu_threads(1, device):
        clock = _Clock(_gstar(claim, setting))
        while time.perf_counter() - clock.t0 < max_seconds:
            X, y, w = sample.tasks(FLOOR_CHUNK, gen)  # (1, C, n+1, d), (1, C, n+1), (1, C, d)
            a, c = floor_moments(X[0], y[0], w[0])
            A += a
            C += c
            seen += FLOOR_CHUNK
            chunks += 1
            if seen >= 4 * d and clock.tick(torch.linalg.solve(A, C).unsqueeze(0), seen, device):
                break
        _sync(device)
        total = time.perf_counter() - clock.t0
    return Run("floor", 1, clock.seconds, clock.prompts, total_seconds=total, steps=chunks, loss="analytic")


METHODS = {"floor": floor, "ours": ours, "plain": plain, "einsum": einsum, "reference": reference}


def run(method: str, claim: str, setting: Setting, seed: int, device, *, replicas: int | None = None,
        max_seconds: float = 120) -> Run:
    """One run of ``method``; ``replicas`` (ours only) None = the plan's default count."""
    kw = {"replicas": replicas} if method == "ours" else {}
    return METHODS[method](claim, setting, seed, torch.device(device), max_seconds=max_seconds, **kw)


def warm_up(device) -> None:
    """First calls of torch kernels in a process (allocator, fused Adam, generators) out of the timings."""
    claim = next(iter(cases().values()))[0]
    setting = Setting(2, 4, 0.5)
    for method in METHODS:
        run(method, claim, setting, 0, device, replicas=2, max_seconds=0.2)


# ---- medians and ratios over the session's runs -----------------------------------------------
def _median(runs, target, budget, what="seconds"):
    """(median, every run reached): a run that missed counts with ``budget`` (seconds); prompts have
    no median (None) unless every run reached."""
    vals = [getattr(r, what).get(target) for r in runs]
    reached = all(v is not None for v in vals)
    if what.endswith("seconds"):
        return statistics.median(budget if v is None else v for v in vals), reached
    return (statistics.median(vals) if reached else None), reached


RATIOS = (  # (name, numerator label, denominator label, what; the targets are noted)
    ("einsum plain loop / ours, default replicas [target ≥ 5 at 1%]", "einsum", "ours-R", "seconds"),
    ("einsum plain loop / ours, one replica", "einsum", "ours-1", "seconds"),
    ("plain (b) / ours, default replicas", "plain", "ours-R", "seconds"),
    ("reference (a) / ours, default replicas", "reference", "ours-R", "seconds"),
    ("plain (b) / ours, one replica", "plain", "ours-1", "seconds"),
    ("ours, one replica / floor [target ≤ 3 at 1%]", "ours-1", "floor", "seconds"),
    ("ours, default replicas / floor", "ours-R", "floor", "seconds"),
    ("prompts: ours, one replica / floor", "ours-1", "floor", "prompts"),
    ("prompts: plain (b) / floor", "plain", "floor", "prompts"),
)


def ratios(runs: dict, targets, budget: float) -> list[dict]:
    """One row per case and target: medians of every method and the RATIOS (medians' ratios).
    ``runs``: (case, label) -> [Run]; labels floor, ours-1, ours-R, plain, reference."""
    rows = []
    for case in dict.fromkeys(c for c, _ in runs):
        for tgt in targets:
            med = {lab: _median(rs, tgt, budget) for (c, lab), rs in runs.items() if c == case}
            pr = {lab: _median(rs, tgt, budget, "prompts") for (c, lab), rs in runs.items() if c == case}
            row = {"case": case, "target": tgt, "seconds": {k: v[0] for k, v in med.items()},
                   "reached": {k: v[1] for k, v in med.items()}, "prompts": {k: v[0] for k, v in pr.items()},
                   "ratios": {}}
            if ("ours-R" in med) and runs[(case, "ours-R")]:
                row["seconds"]["ours-R (replica mean)"] = _median(runs[(case, "ours-R")], tgt, budget, "mean_seconds")[0]
                row["replicas"] = runs[(case, "ours-R")][0].replicas
            for name, num, den, what in RATIOS:
                if num in med and den in med:
                    src = med if what == "seconds" else pr
                    a, b = src[num][0], src[den][0]
                    row["ratios"][name] = {"value": None if a is None or b is None else a / b,
                                           "lower_bound": not med[num][1], "denominator_missed": not med[den][1]}
            rows.append(row)
    return rows


def format_ratios(rows: list[dict], budget: float) -> str:
    out = []
    for r in rows:
        secs = ", ".join(f"{k} {v:.3g} s" + ("" if r["reached"].get(k, True) else " ✗") for k, v in r["seconds"].items())
        out.append(f"{r['case']} to {r['target']:.0%} (ours-R = {r.get('replicas', '?')} replicas): {secs}")
        for name, v in r["ratios"].items():
            if v["value"] is None:
                out.append(f"    {name:<58} n/a (a run missed the target)")
                continue
            mark = ("≥ " if v["lower_bound"] else "") + f"{v['value']:.3g}×" + (" (denominator missed ✗)"
                                                                               if v["denominator_missed"] else "")
            out.append(f"    {name:<58} {mark}")
    out.append(f"✗: some run missed the target (plain loops: within --bench-max-seconds={budget:g}, counted at that "
               "budget, so their ratios are lower bounds ≥)")
    return "\n".join(out)
