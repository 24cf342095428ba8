"""`iclgd check`: check your own in-context learner against a claim.

Calls :func:`iclgd.properties.model_check.check_model` — the function the pytest plugin's
``check_model`` fixture calls. Exit codes: 0 the model reached the claim's optimum or beat its class at
every n; 1 not-reached, inconclusive, refuted or below-Bayes at some n; 2 bad input (a model that cannot
be loaded, raises, returns the wrong shape or NaN: one line naming what it returned). A ``refuted``
point is written as a counterexample record (``--records``), citable with `iclgd counterexamples cite`.
"""
from __future__ import annotations

import argparse
import math
import shlex
import sys

from iclgd.cli import UsageError, emit

from ._args import N_MAX, add_int, add_more_setting_args, add_real, add_seed, add_setting_args, dumps, finite_output

GRID_MAX = 1000  # n values per run


def n_grid(text: str) -> list[int]:
    """``20``, ``1:40`` (inclusive), ``1:40:3`` (step) or ``5,10,20``: the context lengths to check."""
    t = text.strip()
    try:
        if ":" in t:
            parts = [int(v) for v in t.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            lo, hi, step = parts[0], parts[1], parts[2] if len(parts) == 3 else 1
            if step < 1 or lo > hi:
                raise argparse.ArgumentTypeError(f"expected LO:HI[:STEP] with LO <= HI and STEP >= 1, got {text!r}")
            ns = list(range(lo, hi + 1, step))
        else:
            ns = [int(v) for v in t.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, LO:HI[:STEP] or a comma list, got {text!r}") from None
    if not ns or min(ns) < 1 or max(ns) > N_MAX:
        raise argparse.ArgumentTypeError(f"context lengths must lie in [1, {N_MAX}], got {text!r}")
    if len(ns) > GRID_MAX:
        raise argparse.ArgumentTypeError(f"{len(ns)} context lengths; at most {GRID_MAX} per run")
    return sorted(set(ns))


def add_parser(sub):
    p = sub.add_parser(
        "check", help="check your own in-context learner against a claim",
        description="Draw prompts from the claim's data law, run your model on them in batches on --device, and "
        "compare its risk, paired on the same prompts, with the claim's optimum (Γ*'s output), the Bayes risk of the "
        "law and the baselines OLS, averaging (Γ = I) and ridge. Verdict per n: reached, not-reached (gap and its "
        "interval), inconclusive, refuted (a Γ-predictor below the optimum: a counterexample, recorded), "
        "better-than-class (outside the class: no refutation) or below-Bayes (an evaluation error or leakage). "
        "Exit 0 reached / better-than-class at every n, 1 otherwise, 2 bad input or a broken model.")
    add_setting_args(p)
    add_more_setting_args(p)
    for a in p._actions:  # --n here also takes a grid (the other setting flags are predict's/train's own)
        if a.dest == "n":
            a.type, a.help = n_grid, "context length n, or a grid: LO:HI[:STEP] (e.g. 1:40) or a comma list"
    p.add_argument("--model", required=True, help="path/to/file.py:function, package.module:function, model.pt "
                   "(TorchScript) or module:Class (with --weights / --model-kwargs); f(X (B,n,d), y (B,n), "
                   "x_q (B,d)) -> y_hat (B,)")
    p.add_argument("--weights", help="state_dict file (torch.save(model.state_dict(), path)) for module:Class")
    p.add_argument("--model-kwargs", dest="model_kwargs", help="JSON object of keyword arguments for module:Class")
    p.add_argument("--model-class", dest="model_class", choices=("auto", "lsa", "other"), default="auto",
                   help="auto (default: the model's iclgd_class attribute, if any, is reported), lsa (declared; "
                   "either way only a model whose outputs are a Γ-predictor is in the claim's class), or other "
                   "(never in the class, so never a refutation)")
    p.add_argument("--device", default="cpu", help="torch device for prompts and model, e.g. cpu, cuda, cuda:1")
    # defaults live in iclgd.properties.model_check (imported only when the command runs: torch is heavy)
    add_int(p, "--prompts", 64, 2**26, "prompts per n (default: model_check.DEFAULT_PROMPTS = 65536)")
    add_int(p, "--batch", 1, 2**24, "prompts per model call (default: model_check.DEFAULT_BATCH = 4096)")
    add_real(p, "--margin", 0.0, 1.0, "reached: paired gap ≤ margin·L* (default: model_check.MARGIN = 0.01)",
             hi_open=True)
    add_seed(p, "seed of the prompts (each chunk's generator is derived from it, n and the chunk index)")
    p.add_argument("--plot", help="write a figure (risk vs n; effective Γ beside Γ*) to this file (needs matplotlib)")
    p.add_argument("--records", default=None, help="counterexample records folder for a refuted point "
                   "(default $ICLGD_COUNTEREXAMPLES_DIR or .iclgd/counterexamples)")
    return p


class _Bar:
    """A one-line progress bar on stderr (terminals only)."""

    def __init__(self, ns):
        self.ns = ns

    def __call__(self, done: int, total: int):
        w = 30
        k = int(w * done / total)
        per = total // len(self.ns)
        n = self.ns[min((done - 1) // per, len(self.ns) - 1)]
        sys.stderr.write(f"\r  [{'#' * k}{'.' * (w - k)}] {done}/{total} batches  n={n}")
        sys.stderr.flush()

    def close(self):
        sys.stderr.write("\n")
        sys.stderr.flush()


def run(args) -> int:
    from iclgd.empirics.external import ModelError, load_model
    from iclgd.properties.model_check import check_model, plot

    from ._args import setting_from_args
    from .train import _device

    ns = args.n
    setting = setting_from_args(argparse.Namespace(**{**vars(args), "n": ns[0]}))
    device = _device(args.device)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError("--plot: needs matplotlib (pip install 'iclgd[plot]')") from None
    bar = _Bar(ns) if sys.stderr.isatty() and not args.json else None
    try:
        model = load_model(args.model, weights=args.weights, model_kwargs=args.model_kwargs, device=device)
        given = {k: getattr(args, k) for k in ("prompts", "batch", "margin") if getattr(args, k) is not None}
        report = check_model(model, args.claim, setting, ns, device=device, seed=args.seed,
                             model_class=args.model_class, progress=bar, **given)
    except ModelError as e:
        raise UsageError(str(e)) from None
    finally:
        if bar is not None:
            bar.close()
    out = report.to_json()
    out["records"] = _write_records(report, args)
    if args.plot:
        out["figure"] = plot(report, args.plot)
    out, unavailable = finite_output(out)
    if unavailable:
        out["unavailable"] = unavailable
    if args.json:
        print(dumps(out))
    else:
        emit(out, False, _human)
    return 0 if report.ok else 1


def _write_records(report, args) -> list[str]:
    """One counterexample record per refuted n (the harness's format; reproduced by this command)."""
    from iclgd.properties import records
    from iclgd.properties.verdicts import REFUTED

    ids = []
    command = "iclgd " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "iclgd check"
    for c in report.checks:
        if c.verdict == REFUTED:
            rec = records.build([c], nodeid=f"iclgd check --model {report.model}", verdict=REFUTED)
            rec.update(reproduce=command, source="iclgd check")  # `counterexamples replay` points here
            ids.append(records.write(rec, args.records))
    return ids


def _g(v, fmt: str = ".5g") -> str:
    return "unavailable" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


def _iv(x) -> str:
    return "—" if x is None else f"{_g(x['mean'])} ± {_g(x['se'], '.2g')}"


def _human(o: dict) -> None:
    s = o["setting"]
    ns = o["ns"]
    grid = ",".join(map(str, ns)) if len(ns) <= 8 else f"{ns[0]}..{ns[-1]} ({len(ns)} values)"
    print(f"{o['model']} on {o['claim']}  d={s['d']} σ²={s['sigma2']:g} n={grid}  device={o['device']}  "
          f"{o['prompts']} prompts per n, seed {o['seed']}")
    mc = o["model_class"]
    print(f"  class: {mc['class']}; in it at n = {mc['in_class'] or 'none'} ({mc['decided_by']}"
          + (f"; declared {mc['declared']} by {mc['declared_by']}" if mc["declared"] else "")
          + (f"; Γ read from {mc['weights']}" if mc["weights"] else "") + ")")
    print(f"  {'n':>5} {'verdict':>17} {'risk':>20} {'L*':>9} {'gap [interval]':>32} {'Bayes':>9} "
          f"{'ridge':>9} {'OLS':>9} {'averaging':>9}")
    for p in o["points"]:
        gap = p["gap"]
        b = p["baselines"]
        print(f"  {p['n']:>5} {p['verdict']:>17} {_iv(p['risk']):>20} {_g(p['loss_star']):>9} "
              f"{_g(gap['mean'], '+.3g') + ' [' + _g(gap['lo'], '+.3g') + ', ' + _g(gap['hi'], '+.3g') + ']':>32} "
              f"{_g((p['bayes_risk'] or {}).get('mean')):>9} {_g((b.get('ridge') or {}).get('mean')):>9} "
              f"{_g((b.get('ols') or {}).get('mean')):>9} {_g((b.get('averaging') or {}).get('mean')):>9}")
    last = [p for p in o["points"] if p["in_class"]] or (o["points"] if o["gamma_weights"] else [])
    if last:  # in the class, or an LSA whose weights say what its Γ is (nuisance terms and all)
        p = last[-1]
        G = o["gamma_weights"] or p["gamma_fit"]
        src = (f"from {mc['weights']}, nuisance norm {_g(mc['weights_nuisance_norm'], '.3g')}" if o["gamma_weights"]
               else f"least squares over g ⊗ x_q; ‖Γ − Γ*‖/‖Γ*‖ = {_g(p['gamma_rel_error'], '.3g')}")
        print(f"  effective Γ at n={p['n']} ({src}) beside Γ*:")
        for row, row_star in zip(G, p["gamma_star"]):
            print("       " + "  ".join(f"{v:>+10.4g}" for v in row) + "   |  " + "  ".join(f"{v:>+10.4g}" for v in row_star))
    print(f"  verdict: {o['verdict']} — {next(p['why'] for p in o['points'] if p['verdict'] == o['verdict'])}")
    for r in o["records"]:
        print(f"  counterexample record: {r} (iclgd counterexamples cite {r})")
    if o.get("figure"):
        print(f"  figure: {o['figure']}")
    for path, why in o.get("unavailable", {}).items():
        print(f"  unavailable: {path}: {why}")
