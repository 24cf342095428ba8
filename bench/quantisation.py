"""What the default model's 4-bit quantisation does to each LLM metric (numbers for README / notes, not a test).

SmolLM2-135M ships as a Q4_1 GGUF file and is de-quantised to float32 on load: every LLM row is measured on
rounded weights. The weights before rounding are not available, so the measure of "how much does a metric
depend on the rounding" is a second, equally valid 4-bit rounding of the same weights: every Q4_1 linear
weight re-quantised on blocks shifted by half a block (:func:`iclgd.empirics.llm.quantisation.requantise_q4_1`),
its rounding error of the same size as the first's. Each metric is measured on both models from the same
task, orderings and inputs, and compared with the effect the rows judge.

    .venv/bin/python bench/quantisation.py --json > quantisation.json
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from iclgd.empirics.llm import encode, load_model, sample_task, spec, variant
from iclgd.empirics.llm import finetune as F
from iclgd.empirics.llm import icl as I
from iclgd.empirics.llm import metrics as M
from iclgd.empirics.llm.data import draw_orderings
from iclgd.empirics.llm.quantisation import requantised_copy
from iclgd.empirics.llm.sparsity import sparsity_profile
from iclgd.theory.order import per_input_sensitivity


def measure(model, enc, orders, epochs: int) -> dict:
    icl = I.icl_distributions(model, enc, orders)  # (O, I, V)
    zs = F.next_token_distributions(model, enc)  # (I, V)
    gd = F.finetune_distributions(model, enc, orders, variant("gd"), epochs=epochs).probs  # (O, I, V)
    return {"icl": icl, "zs": zs, "gd": gd}


def s2_diff(m: dict, metric) -> torch.Tensor:
    """S2's per-input statistic: agreement(ICL, GD) − agreement(ICL, ICL reordered), mean over orderings (I,)."""
    return (metric(m["icl"], m["gd"]) - metric(m["icl"], m["icl"].roll(-1, dims=0))).mean(0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="sst2")
    ap.add_argument("--shots", type=int, default=2)
    ap.add_argument("--orders", type=int, default=2)
    ap.add_argument("--test-inputs", type=int, default=26)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    lm = load_model("smollm2")
    other = requantised_copy(lm.model)
    moved = [(p - q).abs().max().item() for p, q in zip(lm.model.parameters(), other.parameters())]
    enc = encode(sample_task(spec(a.dataset), a.shots, a.test_inputs, a.seed), lm.tokenizer)
    orders = draw_orderings(a.shots, a.orders, a.seed)
    one, two = measure(lm.model, enc, orders, a.epochs), measure(other, enc, orders, a.epochs)
    to10 = lambda x, y: M.token_overlap(x, y, 10).double()  # noqa: E731
    cos10 = lambda x, y: M.overlap_cosine(x, y, 10, "union").double()  # noqa: E731
    out = {"model": lm.source, "quantisation": lm.quantisation, "setting": vars(a),
           "max_weight_change": max(moved),
           "requantised_vs_loaded": {}, "reference": {}, "s2": {}, "order_sensitivity": {}, "sparsity": {}}
    for k in ("icl", "gd"):  # the same method on the two roundings, ordering for ordering
        out["requantised_vs_loaded"][k] = {"token_overlap@10": to10(one[k], two[k]).mean().item(),
                                           "overlap_cosine@10": cos10(one[k], two[k]).mean().item(),
                                           "max_abs_prob": (one[k] - two[k]).abs().max().item()}
    out["requantised_vs_loaded"]["zero_shot"] = {"token_overlap@10": to10(one["zs"], two["zs"]).mean().item()}
    out["reference"]["icl_vs_icl_reordered"] = {"token_overlap@10": to10(one["icl"], one["icl"].roll(-1, 0)).mean().item(),
                                                "overlap_cosine@10": cos10(one["icl"], one["icl"].roll(-1, 0)).mean().item()}
    for name, metric in (("token_overlap@10", to10), ("overlap_cosine@10", cos10)):
        d1, d2 = s2_diff(one, metric), s2_diff(two, metric)  # (I,)
        out["s2"][name] = {"mean_effect": [d1.mean().item(), d2.mean().item()],
                           "mean_abs_change_per_input": (d1 - d2).abs().mean().item(),
                           "sign_flips": int(((d1 > 0) != (d2 > 0)).sum()), "inputs": len(d1)}
    for k in ("icl", "gd"):
        s1 = per_input_sensitivity(one[k].double().numpy())
        s2 = per_input_sensitivity(two[k].double().numpy())
        out["order_sensitivity"][k] = {"mean": [float(s1.mean()), float(s2.mean())],
                                       "mean_abs_change_per_input": float(abs(s1 - s2).mean())}
    p1, p2 = sparsity_profile(lm.model, quantised="Q4_1"), sparsity_profile(other)
    out["sparsity"] = {"thresholds": p1["thresholds"], "loaded": p1["mean"], "requantised": p2["mean"],
                       "upper_before_quantisation": p1["mean_upper"], "step": p1["step"]}
    out["seconds"] = time.perf_counter() - t0
    if a.json:
        print(json.dumps(out, indent=1))
    else:
        for k, v in out.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
