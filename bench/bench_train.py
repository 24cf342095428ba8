"""Time to target error: the suite's trainer against the reference notebooks' plain loop.

Wall time until the relative Frobenius error ‖Γ − Γ*‖/‖Γ*‖ of a one-layer LSA (full W_K, W_Q, W_V, h)
is at most the target, for
  M1: x ~ N(0, I), w ~ N(0, I), d = 5, n = 20, σ² = 0.5, target 1%;
  M2: x ~ N(0, Σ), w ~ N(0, Σ⁻¹), Σ = U diag(geomspace(1, 10, 8)) Uᵀ (condition number 10, U Haar from
      seed 0), d = 8, n = 32, σ² = 0.5, target 2%.
Baseline: Adam at a fixed rate 1e-3, batch 2048, initial weights N(0, 10⁻⁸) — the loop of Ahn et al.'s
reference notebooks (chengxiang/LinearTransformer, `simple demonstration.ipynb`: lr = 0.001,
var = 0.0001 as a standard deviation). Ours: :func:`iclgd.properties.trained.train_and_compare` with one
replica and the schedule below (what `iclgd train --replicas 1 --target-error ...` runs). Both check
the error every 10 steps, draw fresh prompts every step, run float32 with one intra-op thread on CPU.

    python bench/bench_train.py [--device cuda] [--seeds 3] [--json]
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import numpy as np
import torch

from iclgd.empirics.models import LSA
from iclgd.empirics.sampling import generator
from iclgd.empirics.train import Schedule, cpu_threads, prompt_sampler
from iclgd.properties.trained import Plan, sampler_law, train_and_compare
from iclgd.theory import Setting, get_claim

FAST = Plan(1, Schedule(steps=800, lr=2e-2, lr_final=5e-4, warmup=50, batch=2048, batch_start=512), 1 << 12)
CHECK_EVERY = 10


def cases():
    rng = np.random.default_rng(0)
    Q, R = np.linalg.qr(rng.standard_normal((8, 8)))
    U = Q * np.sign(np.diag(R))
    Sigma = (U * np.geomspace(1, 10, 8)) @ U.T
    return [("M1", Setting(5, 20, 0.5), 0.01), ("M2", Setting(8, 32, 0.5, cov=(Sigma + Sigma.T) / 2), 0.02)]


def baseline(claim_id, setting, target, seed, device, max_seconds):
    """The reference loop: Adam(lr=1e-3), batch 2048, init std 1e-4, until the error ≤ target."""
    d, n = setting.d, setting.n
    gstar = torch.as_tensor(get_claim(claim_id).predict(setting, exact=False).gamma)
    gen = generator(seed, device)
    model = LSA(d, init_std=1e-4 * math.sqrt(d + 1), generator=gen, device=device)
    sample = prompt_sampler(n, d, 1, device=device, **sampler_law(claim_id, setting))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    with cpu_threads(1, device):
        t0, step, err = time.perf_counter(), 0, math.inf
        while time.perf_counter() - t0 < max_seconds:
            X, y = sample(2048, gen)
            loss = (model(X, y) - y[..., -1]).square().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % CHECK_EVERY == 0:
                err = float((model.readout()["gamma"][0].cpu() - gstar).norm() / gstar.norm())
                if err <= target:
                    break
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return {"seconds": time.perf_counter() - t0, "steps": step, "rel_error": err, "reached": err <= target}


def ours(claim_id, setting, target, seed, device):
    r, _ = train_and_compare(claim_id, setting, device=device, seed=seed, plan=FAST, stop_rel_error=target)
    return {"seconds": r.seconds, "steps": r.steps, "rel_error": r.rel_error, "reached": r.stopped == "stop"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--seeds", type=int, default=3, help="seeds per method and case")
    p.add_argument("--max-seconds", type=float, default=120,
                   help="baseline time budget per run; a run that misses counts with this time (a lower bound)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    device = torch.device(a.device)
    rows = []
    for claim_id, setting, target in cases():
        runs = {"baseline": [], "ours": []}
        for seed in range(a.seeds):
            runs["ours"].append(ours(claim_id, setting, target, seed, device))
            runs["baseline"].append(baseline(claim_id, setting, target, seed, device, a.max_seconds))
            if not a.json:
                print(f"  {claim_id} seed {seed}: ours {runs['ours'][-1]['seconds']:.2f} s, "
                      f"baseline {runs['baseline'][-1]['seconds']:.2f} s", file=sys.stderr)
        med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
        missed = {k: sum(not r["reached"] for r in v) for k, v in runs.items()}
        rows.append({"claim": claim_id, "d": setting.d, "n": setting.n, "sigma2": setting.sigma2, "target": target,
                     "device": str(device), "median_seconds": med, "speedup": med["baseline"] / med["ours"],
                     "speedup_is_lower_bound": missed["baseline"] > 0, "missed": missed, "runs": runs})
    if a.json:
        print(json.dumps({"torch": torch.__version__, "cases": rows}, indent=2))
        return 0
    print(f"{'case':<26}{'ours (s)':>10}{'baseline (s)':>14}{'speedup':>10}   steps ours | baseline")
    for r in rows:
        steps = lambda k: "/".join(str(x["steps"]) + ("" if x["reached"] else "✗") for x in r["runs"][k])  # noqa: E731
        lb = "≥" if r["speedup_is_lower_bound"] else ""
        print(f"{r['claim']} d={r['d']} n={r['n']} to {r['target']:.0%}".ljust(26)
              + f"{r['median_seconds']['ours']:>10.2f}{r['median_seconds']['baseline']:>14.2f}"
              f"{lb + format(r['speedup'], '.1f') + '×':>10}   {steps('ours')} | {steps('baseline')}")
    print(f"✗: missed the target within the step budget (ours) or --max-seconds={a.max_seconds:g} (baseline); "
          "a missed baseline run counts with its budget, so the speedup is then a lower bound")
    return 0


if __name__ == "__main__":
    sys.exit(main())
