"""`iclgd train`: train transformers on a claim's data law and compare what they learn with the claim.

Calls :func:`iclgd.properties.trained.train_and_compare` — the function the trained-model tests call.
"""
from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np

from iclgd.cli import UsageError, emit

from ._args import add_setting_args, setting_from_args


def add_parser(sub):
    p = sub.add_parser(
        "train", help="train LSA / softmax / L-layer models and compare with a claim",
        description="Train independently seeded replicas on fresh prompts from the claim's data law; print "
        "the learned Γ, Γ*, relative Frobenius error with its noise-floor tolerance, nuisance, loss vs L*.")
    add_setting_args(p)
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1")
    p.add_argument("--layers", type=int, default=1, help="L > 1: Ahn et al.'s L-layer linear transformer")
    p.add_argument("--model", choices=("lsa", "softmax"), default="lsa", help="one-layer attention kind")
    p.add_argument("--include-query", action="store_true", help="LSA sums over the query token too")
    p.add_argument("--seed", type=int, default=0, help="seed of the torch.Generator (init and prompts)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="training dtype")
    p.add_argument("--replicas", type=int, help="independently seeded models (default 8; ≥ 2 for a noise floor)")
    p.add_argument("--steps", type=int, help="step budget (default: 800 one layer, 3000 L layers)")
    p.add_argument("--batch", type=int, help="prompts per replica per step at the end of the ramp")
    p.add_argument("--target-error", type=float, dest="target_error",
                   help="stop once one replica's Γ is within this relative Frobenius error of Γ*")
    return p


def run(args) -> int:
    import torch

    from iclgd.properties.trained import plan_for, train_and_compare

    setting = setting_from_args(args)
    device = _device(args.device)
    plan = plan_for("cli", args.model, args.layers if args.layers > 0 else 1)
    for flag, v in (("--replicas", args.replicas), ("--steps", args.steps), ("--batch", args.batch)):
        if v is not None and v < 1:
            raise UsageError(f"{flag}: must be >= 1, got {v}")
    if args.target_error is not None and not (args.target_error > 0):
        raise UsageError(f"--target-error: must be > 0, got {args.target_error}")
    sched = plan.schedule
    if args.steps is not None:
        sched = replace(sched, steps=args.steps, warmup=min(sched.warmup, max(args.steps // 10, 1)))
    if args.batch is not None:
        sched = replace(sched, batch=args.batch, batch_start=min(sched.batch_start, args.batch))
    plan = replace(plan, schedule=sched, replicas=args.replicas or plan.replicas)
    bar = _Bar() if sys.stderr.isatty() and not args.json else None
    try:
        result, checks = train_and_compare(
            args.claim, setting, device=device, seed=args.seed, dtype=getattr(torch, args.dtype),
            model=args.model, layers=args.layers, include_query=args.include_query, plan=plan,
            stop_rel_error=args.target_error, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    out = result.to_json()
    out["checks"] = [c.to_json() for c in checks]
    out["holds"] = all(c.holds for c in checks if c.expect == "hold")
    emit(out, args.json, _human)
    return 0


def _device(text: str):
    import torch

    try:
        dev = torch.device(text)
    except RuntimeError as e:
        raise UsageError(f"--device: {e}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device: CUDA requested but torch sees no CUDA device")
    if dev.type not in ("cpu", "cuda"):
        raise UsageError(f"--device: expected cpu or cuda[:k], got {text!r}")
    return dev


class _Bar:
    """A one-line progress bar on stderr (terminals only)."""

    def __call__(self, t: int, total: int, loss: float):
        w = 30
        k = int(w * t / total)
        sys.stderr.write(f"\r  [{'#' * k}{'.' * (w - k)}] {t}/{total} steps  loss {loss:.4g}")
        sys.stderr.flush()

    def close(self):
        sys.stderr.write("\n")
        sys.stderr.flush()


def _human(o: dict) -> None:
    s = o["setting"]
    kind = o["model"] + (f" L={o['layers']}" if o["layers"] > 1 else "")
    print(f"{o['claim']}  d={s['d']} n={s['n']} σ²={s['sigma2']:g} target={s['target']}  model={kind}  "
          f"device={o['device']} {o['dtype']}")
    print(f"  {o['replicas']} replicas, {len(o['basin'])} in the lowest basin"
          + (f"; others at loss {', '.join(f'{v:.4g}' for v in o['trapped_losses'])}" if o["trapped_losses"] else ""))
    print(f"  {o['steps']} steps, {o['prompts']} prompts per replica, {o['seconds']:.2f} s ({o['stopped']})")
    if o["model"] == "lsa":
        print(f"  rel. error ‖Γ − Γ*‖/‖Γ*‖ = {o['rel_error']:.4g}   (tolerance {o['tolerance']:.3g})")
    else:  # no Γ read-off: the least-squares Γ-fit of the output, against the one-layer Γ*
        print(f"  Γ-fit of the output vs one-layer Γ*: rel. difference {o['rel_error']:.4g}, "
              f"unexplained output fraction {o['nuisance_fraction']:.3g} (RMS)")
    print(f"  loss {o['loss']:.5g}   L* = {o['loss_star']:.5g}   nuisance norm {o['nuisance_norm']:.3g}")
    for name in ("gamma_learned", "gamma_star"):
        print(f"  {'Γ learned' if name == 'gamma_learned' else 'Γ*       '} =")
        for row in np.array(o[name]):
            print("       " + "  ".join(f"{v:+.5f}" for v in row))
    for c in o["checks"]:
        print(f"  [{c['verdict']:>11}] {c['quantity']}: {c['error']:.4g} vs {c['tolerance']:.4g}")
