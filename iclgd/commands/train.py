"""`iclgd train`: train transformers on a claim's data law and compare what they learn with the claim.

Calls :func:`iclgd.properties.trained.train_and_compare` — the function the trained-model tests call.
Around it, the CLI's guarantees (issue 15): the request is refused before allocation if its tensors
would not fit (:func:`memory_needs`); Σ, Σ_w must be conditioned well enough for the training dtype
(κ ≤ 1/√ε); extreme scales train scale-free (M2/M2g on Σ/a, Σ_w/b, σ²/(ab) with a, b powers of two:
the same claim, Γ* × a, losses / ab — mapped back); a check whose tolerance could not be estimated or
has no power is ``inconclusive`` with its reason; no NaN or inf is printed.
"""
from __future__ import annotations

import math
import sys
from dataclasses import replace

import numpy as np

from iclgd.cli import UsageError, emit
from iclgd.theory import SettingError, get_claim
from iclgd.theory.targets import parse_target

from ._args import (Need, add_int, add_more_setting_args, add_real, add_seed, add_setting_args, condition, dumps,
                    finite_output, pow2_scale, preflight, setting_from_args)

LAYERS_MAX = 64  # deeper linear transformers' activations overflow float32 products of L layers
SNR_MIN = 1e-6  # tr(ΣΣ_w)/σ² below this: Γ* = O(n/σ²) and no feasible budget resolves it (see notes/cli-robustness.md)
RESCALE_LOG2 = 8  # train scale-free when Σ's or Σ_w's scale is beyond 2^±8 (the schedules are tuned at scale 1)


def add_parser(sub):
    p = sub.add_parser(
        "train", help="train LSA / softmax / L-layer models and compare with a claim",
        description="Train independently seeded replicas on fresh prompts from the claim's data law; print "
        "the learned Γ, Γ*, relative Frobenius error with its noise-floor tolerance, nuisance, loss vs L*. "
        "Requests that would not fit in memory, covariances too ill-conditioned for the dtype "
        "(κ > 1/√ε: 2.9e3 float32, 6.7e7 float64) and noise beyond σ² ≤ 1e6·tr(ΣΣ_w) are refused.")
    add_setting_args(p)
    # the laws beyond x ~ N(0, Σ), w ~ N(0, Σ_w) (uniform x, a prior mean); claim parameters' flags would
    # collide with train's own (--layers)
    add_more_setting_args(p, claim_params=False)
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1")
    add_int(p, "--layers", 1, LAYERS_MAX, "L > 1: Ahn et al.'s L-layer linear transformer", default=1)
    p.add_argument("--model", choices=("lsa", "softmax"), default="lsa", help="one-layer attention kind")
    p.add_argument("--include-query", action="store_true", help="LSA sums over the query token too")
    add_seed(p, "seed of the torch.Generator (init and prompts)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="training dtype")
    add_int(p, "--replicas", 1, 1024, "independently seeded models (default 8; >= 2 for a noise floor)")
    add_int(p, "--steps", 1, 10**7, "step budget (default: 200 one-layer LSA on a linear target, trained on every prompt drawn; 800 for other laws and models; 3000 L layers)")
    add_int(p, "--batch", 1, 2**24, "prompts per replica per step at the end of the ramp")
    add_real(p, "--target-error", 0.0, 1.0, "stop once one replica's Γ is within this relative Frobenius error "
             "of Γ*", lo_open=True, dest="target_error")
    return p


def memory_needs(plan, n: int, d: int, layers: int, model: str, itemsize: int, flags: dict, m: int = 1) -> list[Need]:
    """Peak bytes of the largest allocations, calibrated on CPU (notes/cli-robustness.md: the estimate is
    2–3× the measured peak): a training step keeps ≈ 8 tensors of R·B·(n+1)·(d+1) entries (prompts,
    tokens, context and their gradients) and 4 of R·B·(d+1)² (S, M v_q) per layer; the held-out
    evaluation keeps N prompts on the device and float64 copies on the host, plus (k, N, d) float64
    products of the read-off, and for softmax the (k, N, d²) features of the Γ-fit. ``m`` ReLU units
    (``relu-sum:m``) add their weights (·, m, d) and pre-activations (·, n+1, m) to every draw."""
    R, B, S, D, N = plan.replicas, plan.schedule.batch, plan.schedule.steps, d + 1, plan.eval_prompts
    f = {k: (k, v, t) for k, (v, t) in flags.items()}
    step = layers * R * B * ((n + 1) * D * 8 + D * D * 4) * itemsize
    ev = N * (n + 1) * d * (itemsize + 24) + 4096 * R * (n + 1) * D * 12 * itemsize + 6 * R * N * d * 8
    if model == "softmax":
        ev += 4 * R * N * d * d * 8
    return [
        Need(f"a training step ({R} replicas × {B} prompts × {n + 1} tokens × {D} features × {layers} layer(s))",
             step, (f["--batch"], f["--replicas"], f["--n"], f["--d"], f["--layers"])),
        Need(f"the held-out evaluation ({N} prompts × {n + 1} tokens × {d} features, {R} replicas)",
             ev, (f["--n"], f["--d"], f["--replicas"])),
        Need(f"the loss history ({S} steps × {R} replicas)", S * R * (itemsize + 8), (f["--steps"], f["--replicas"])),
        Need(f"the sampled task units ({m} per prompt: weights and pre-activations of {max(R * B, N)} prompts)",
             max(R * B, N) * m * (n + 1 + d) * itemsize * 4, (f["--target"], f["--batch"], f["--replicas"])),
    ]


def _law_checks(claim, setting, dtype: str) -> None:
    """Condition numbers within what ``dtype`` training honours; noise within what a budget resolves."""
    eps = float(np.finfo(dtype).eps)
    limit = eps ** -0.5
    for param, value in (("cov", setting.cov), ("cov_w", setting.cov_w)):
        if value is not None:
            k = condition(np.array(value))
            if k > limit:
                more = " (or --dtype float64: <= 6.7e7)" if dtype == "float32" else ""
                raise SettingError(param, f"condition number {k:.3g} exceeds {limit:.3g}, the most {dtype} training "
                                   f"honours (1/√ε: sampling and read-off lose log10 κ digits); use a "
                                   f"better-conditioned matrix{more}")
    dist = claim.distribution(setting)
    with np.errstate(all="ignore"):
        signal = float(np.trace(dist.Sigma @ dist.Sigma_w))
    if setting.sigma2 > 0 and not signal >= SNR_MIN * setting.sigma2:
        raise SettingError("sigma2", f"σ² = {setting.sigma2:g} swamps the signal tr(ΣΣ_w) = {signal:.3g} by more "
                           f"than {1 / SNR_MIN:g}: Γ* = O(n/σ²) is beyond what the trainer resolves")


def _rescale(claim_id: str, setting):
    """(setting to train on, x-scale a, y²-scale ab) — scale-free for M2/M2g beyond 2^±RESCALE_LOG2."""
    rule = get_claim(claim_id).rescale
    if rule is None or (setting.cov is None and setting.cov_w is None):
        return setting, 1.0, 1.0
    a = pow2_scale(setting.Sigma) if setting.cov is not None else 1.0
    b = pow2_scale(setting.Sigma_w) if setting.cov_w is not None else 1.0
    if max(abs(math.log2(a)), abs(math.log2(b))) <= RESCALE_LOG2:
        return setting, 1.0, 1.0
    lab = 0 if rule == "prior-inverse" else round(math.log2(a) + math.log2(b))
    if abs(lab) > 1000:
        raise SettingError("cov_w" if abs(math.log2(b)) > abs(math.log2(a)) else "cov",
                           f"the signal variance tr(ΣΣ_w) ≈ 2^{lab} is beyond float64's range")
    ab = math.ldexp(1.0, lab)
    scaled = setting.replace(cov=setting.Sigma / a, cov_w=None if setting.cov_w is None else setting.Sigma_w / b,
                             sigma2=setting.sigma2 / ab)
    return scaled, a, ab


def run(args) -> int:
    import torch

    from iclgd.properties.trained import plan_for, train_and_compare

    setting = setting_from_args(args)
    claim = get_claim(args.claim)
    claim.validate(setting)
    device = _device(args.device)
    _law_checks(claim, setting, args.dtype)
    plan = plan_for("cli", args.model, args.layers)
    sched = _budget(plan.schedule, args.steps, args.batch)
    plan = replace(plan, schedule=sched, replicas=args.replicas or plan.replicas)
    itemsize = 4 if args.dtype == "float32" else 8
    m = parse_target(setting.target, setting.d).m  # relu-sum:m draws m task units per prompt
    needs = []
    for s in filter(None, (sched, getattr(sched, "fallback", None))):  # the trainer may follow either
        flags = {"--batch": (s.batch, 1024), "--replicas": (plan.replicas, 8), "--n": (setting.n, 20),
                 "--d": (setting.d, 5), "--layers": (args.layers, 1), "--steps": (s.steps, 800), "--target": (m, 1)}
        needs += memory_needs(replace(plan, schedule=s), setting.n, setting.d, args.layers, args.model, itemsize,
                              flags, m)
    preflight(needs, device)
    if device.type == "cuda":  # the evaluation's float64 copies live on the host
        preflight(needs[1:2])
    trained_on, a, ab = _rescale(args.claim, setting)
    bar = _Bar() if sys.stderr.isatty() and not args.json else None
    try:
        result, checks = train_and_compare(
            args.claim, trained_on, device=device, seed=args.seed, dtype=getattr(torch, args.dtype),
            model=args.model, layers=args.layers, include_query=args.include_query, plan=plan,
            stop_rel_error=args.target_error, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    checks = [_guard(c, sched) for c in checks]
    out = result.to_json()
    if a != 1.0 or ab != 1.0:
        _map_back(out, setting, a, ab)
    out["checks"] = [c.to_json() for c in checks]
    out["holds"] = all(c.holds for c in checks if c.expect == "hold" and not c.inconclusive)
    out, unavailable = finite_output(out, _reasons(out))
    if unavailable:
        out["unavailable"] = unavailable
    if args.json:
        print(dumps(out))
    else:
        emit(out, False, _human)
    return 0


def _budget(sched, steps, batch):
    """The schedule with the user's --steps/--batch, applied to its fallback schedule too (the budget
    the user gave is the budget, whichever schedule the trainer follows)."""
    if steps is not None:
        sched = replace(sched, steps=steps, warmup=min(sched.warmup, max(steps // 10, 1)))
    if batch is not None:
        sched = replace(sched, batch=batch, batch_start=min(sched.batch_start, batch))
    fallback = getattr(sched, "fallback", None)
    return replace(sched, fallback=_budget(fallback, steps, batch)) if fallback is not None else sched


def _reasons(out: dict) -> dict:
    """Why each top-level quantity may be unavailable; a Γ tolerance from fewer than 2 basin replicas
    (a Student t with no degrees of freedom) is removed here, not printed as 0."""
    k, R = len(out["basin"]), out["replicas"]
    if out["model"] != "lsa":
        floor = f"no Γ read-off for {out['model']}: Γ is a least-squares fit of the output, with no replica noise floor"
    else:
        floor = (f"{k} of {R} replicas in the lowest basin: a between-replica noise floor needs 2 "
                 f"(Student t with {max(k - 1, 0)} degrees of freedom)")
        if k < 2:
            out["tolerance"] = out["noise_floor"] = math.nan
    return {"tolerance": floor, "noise_floor": floor,
            "rel_error": "no Γ to compare (the read-off gave no finite value)",
            "loss": "no replica reached the optimum's basin: the basin's mean loss is undefined (see trapped_losses)"}


def _guard(c, sched):
    """The check as ``inconclusive`` (with the reason) when its tolerance could not be estimated or
    cannot tell the measurement from zero, or when the schedule left no averaged tail."""
    if c.inconclusive:
        return c
    tail = sched.steps - sched.tail_start
    why = ""
    if not math.isfinite(c.tolerance) or not math.isfinite(c.error):
        why = "tolerance or statistic not estimable (no finite value): " + c.reason
    elif tail < 1 and "noise floor" in c.reason:
        why = (f"--steps {sched.steps} leaves no averaged tail ({sched.tail:.0%} of the steps): the replicas' "
               "spread is not the trainer's noise floor")
    elif np.ndim(c.predicted) == 2 and c.tolerance >= 1:
        why = f"tolerance {c.tolerance:.3g} ≥ 1 on a relative error: it could not tell Γ̄ from 0"
    elif np.ndim(c.predicted) == 0 and c.predicted and c.tolerance >= abs(float(c.predicted)):
        why = f"tolerance {c.tolerance:.3g} ≥ |prediction| {abs(float(c.predicted)):.3g}: it could not tell the value from 0"
    return replace(c, inconclusive=why) if why else c


def _map_back(out: dict, setting, a: float, ab: float) -> None:
    """Γ-like fields × 1/a, losses × ab (trained on Σ/a, Σ_w/b, σ²/(ab)); checks stay in trained units."""
    out["rescaled"] = {"cov_divided_by": a, "sigma2_divided_by": ab, "trained_setting": out["setting"],
                       "note": "trained scale-free on the same claim; Γ and losses below are mapped back, "
                       "the checks' statistics are in the trained units (relative errors are unchanged)"}
    out["setting"] = setting.to_json()
    for k in ("gamma_learned", "gamma_star"):
        out[k] = (np.array(out[k]) / a).tolist()
    for k in ("loss", "loss_star"):
        out[k] = out[k] * ab
    out["trapped_losses"] = [v * ab for v in out["trapped_losses"]]
    out["loss_curve"] = [[t, v * ab] for t, v in out["loss_curve"]]


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
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise UsageError(f"--device: {text} does not exist ({torch.cuda.device_count()} CUDA device(s))")
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


def _g(v, fmt: str = ".4g") -> str:
    return "unavailable" if v is None else format(v, fmt)


def _human(o: dict) -> None:
    s = o["setting"]
    kind = o["model"] + (f" L={o['layers']}" if o["layers"] > 1 else "")
    print(f"{o['claim']}  d={s['d']} n={s['n']} σ²={s['sigma2']:g} target={s['target']}  model={kind}  "
          f"device={o['device']} {o['dtype']}")
    print(f"  {o['replicas']} replicas, {len(o['basin'])} in the lowest basin"
          + (f"; others at loss {', '.join(_g(v) for v in o['trapped_losses'])}" if o["trapped_losses"] else ""))
    print(f"  {o['steps']} steps, {o['prompts']} prompts per replica, {o['seconds']:.2f} s ({o['stopped']})")
    if o.get("rescaled"):
        r = o["rescaled"]
        print(f"  trained scale-free on Σ / {r['cov_divided_by']:g}, σ² / {r['sigma2_divided_by']:g}; "
              "Γ and losses mapped back, check statistics in trained units")
    if o["model"] == "lsa":
        print(f"  rel. error ‖Γ − Γ*‖/‖Γ*‖ = {_g(o['rel_error'])}   (tolerance {_g(o['tolerance'], '.3g')})")
    else:  # no Γ read-off: the least-squares Γ-fit of the output, against the one-layer Γ*
        print(f"  Γ-fit of the output vs one-layer Γ*: rel. difference {_g(o['rel_error'])}, "
              f"unexplained output fraction {_g(o['nuisance_fraction'], '.3g')} (RMS)")
    print(f"  loss {_g(o['loss'], '.5g')}   L* = {_g(o['loss_star'], '.5g')}   nuisance norm "
          f"{_g(o['nuisance_norm'], '.3g')}")
    for name in ("gamma_learned", "gamma_star"):
        print(f"  {'Γ learned' if name == 'gamma_learned' else 'Γ*       '} =")
        for row in o[name]:
            print("       " + "  ".join(f"{v:>+12.5g}" if v is not None else f"{'unavailable':>12}" for v in row))
    for c in o["checks"]:
        print(f"  [{c['verdict']:>12}] {c['quantity']}: {_g(c['error'])} vs {_g(c['tolerance'])}"
              + (f"  ({c['inconclusive']})" if c.get("inconclusive") else ""))
    for path, why in o.get("unavailable", {}).items():
        print(f"  unavailable: {path}: {why}")
