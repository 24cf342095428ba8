"""Exploration (issue 14 item 4, notes/benchmarks-and-trainer-speed.md): does a quasi-Newton phase after a short Adam warm-up
bring one replica of `iclgd train`'s trainer within 3× of the statistical floor's wall time to 1 %?

Not the trainer: a stand-alone variant of its reuse loop for ONE replica (torch.optim.LBFGS on the summed
loss of R replicas would couple them). Phase 1: ``--adam`` Adam steps (the cli plan's betas, lr 5e-2,
10-step warm-up), each adding ``--batch`` prompts to :class:`ContextMoments`; phase 2: each step adds
``--chunk`` prompts and runs ``LBFGS(max_iter=--iters, history_size=10, line_search_fn="strong_wolfe")``
on the moment loss (deterministic given the moments). Error checked every 10 Adam steps and after every
LBFGS step; the floor (bench/time_to_target.py) runs on the same seed just before. Prints, per case,
the medians over seeds and their ratio.

    OMP_NUM_THREADS=1 python bench/explore_lbfgs.py [--adam 10] [--batch 512] [--chunk 1024] [--iters 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import time_to_target as ttt  # noqa: E402

from iclgd.empirics.models import LSA  # noqa: E402
from iclgd.empirics.sampling import generator  # noqa: E402
from iclgd.empirics.train import ContextMoments, prompt_sampler  # noqa: E402
from iclgd.properties.trained import PLANS, sampler_law  # noqa: E402


def run(claim, setting, seed, a):
    d, n = setting.d, setting.n
    gen = generator(seed, "cpu")
    model = LSA(d, replicas=1, init_std=PLANS["cli", "lsa"].init_std, generator=gen)
    sample = prompt_sampler(n, d, 1, **sampler_law(claim, setting))
    clock = ttt._Clock(ttt._gstar(claim, setting))
    moments = ContextMoments(sample, 1, "cpu", torch.float32)
    opt = torch.optim.Adam(model.parameters(), lr=5e-2, betas=(0.8, 0.95), fused=True)
    prompts, evals, t = 0, 0, 0

    def closure():
        nonlocal evals
        evals += 1
        opt.zero_grad(set_to_none=True)
        loss = moments.loss(model).sum()
        loss.backward()
        return loss

    while time.perf_counter() - clock.t0 < 10:
        if t < a.adam:
            for g in opt.param_groups:
                g["lr"] = 5e-2 * min(1.0, (t + 1) / 10)
            moments.add(*sample.tasks(a.batch, gen))
            prompts += a.batch
            closure()
            opt.step()
            if (t + 1) % 10 == 0 and clock.tick(model.readout()["gamma"], prompts, "cpu"):
                break
        else:
            if t == a.adam:
                opt = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=a.iters, history_size=10,
                                        line_search_fn="strong_wolfe")
            moments.add(*sample.tasks(a.chunk, gen))
            prompts += a.chunk
            opt.step(closure)
            if clock.tick(model.readout()["gamma"], prompts, "cpu"):
                break
        t += 1
    return clock, t, evals


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--adam", type=int, default=10)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--chunk", type=int, default=1024)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--seeds", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(1)
    ttt.warm_up(torch.device("cpu"))
    for case, (claim, setting) in ttt.cases().items():
        floor, ours, prompts, steps, evals = [], [], [], [], []
        for s in range(a.seeds):
            floor.append(ttt.run("floor", claim, setting, s, "cpu").seconds[0.01])
            clock, t, e = run(claim, setting, s, a)
            ours.append(clock.seconds.get(0.01, float("inf")))
            prompts.append(clock.prompts.get(0.01, 0))
            steps.append(t)
            evals.append(e)
        f, o = statistics.median(floor), statistics.median(ours)
        print(f"{case}: floor {f:.3f} s, adam+lbfgs {o:.3f} s, ratio {o / f:.2f}; prompts {statistics.median(prompts)}, "
              f"steps {steps}, loss evaluations {evals}")


if __name__ == "__main__":
    main()
