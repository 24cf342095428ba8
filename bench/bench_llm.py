"""Speed of the LLM tier (issue 12): ICL batched with the shared-prefix KV cache against one full prompt
at a time (the naive loop) and the token-count bound on that speedup, fine-tuning seconds per epoch
per ordering and variant (orderings side by side against one at a time where the variant allows),
the cost of recording the peers' per-layer internals, and optionally the whole default
`iclgd probe --protocol shen`.

    python bench/bench_llm.py [--model smollm2] [--device cpu] [--dataset sst2] [--shots 4] [--orders 4]
                              [--test-inputs 26] [--epochs 2] [--variants gd,gd-deep,...] [--protocol]

Prints a table and writes bench/results/llm-<UTC time>.json. Wall times on a shared machine are
upper bounds: state the load beside them (the script records os.getloadavg() before and after).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="smollm2")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dataset", default="sst2")
    p.add_argument("--shots", type=int, default=4)
    p.add_argument("--orders", type=int, default=4)
    p.add_argument("--test-inputs", type=int, default=26)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--variants", default="gd,gd-mid,gd-deep,sgd,adam,kv-sgd,lc-gd")
    p.add_argument("--protocol", action="store_true", help="also time the default `iclgd probe --protocol shen`")
    a = p.parse_args(argv)
    for flag in ("shots", "orders", "test_inputs", "epochs"):
        if getattr(a, flag) < (2 if flag in ("shots", "orders") else 1):
            print(f"bench_llm.py: error: --{flag.replace('_', '-')}: too small", file=sys.stderr)
            return 2

    from iclgd.empirics.llm import draw_orderings, encode, load_model, sample_task, spec, variant
    from iclgd.empirics.llm import finetune as F
    from iclgd.empirics.llm import icl as I
    from iclgd.empirics.llm.batched import batchable
    from iclgd.empirics.llm.peers import Recorder

    load0 = os.getloadavg()
    t0 = time.perf_counter()
    lm = load_model(a.model, device=a.device)
    res = {"model": a.model, "device": str(lm.device), "load_seconds": time.perf_counter() - t0,
           "loadavg_before": load0, "setting": vars(a)}
    enc = encode(sample_task(spec(a.dataset), a.shots, a.test_inputs, 0), lm.tokenizer)
    orders = draw_orderings(a.shots, a.orders, 0)
    rows = len(orders) * a.test_inputs

    def timed(fn):
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    timed(lambda: I.icl_distributions(lm.model, enc, orders[:1]))  # warm-up
    res["icl_cached_seconds"] = timed(lambda: I.icl_distributions(lm.model, enc, orders))
    naive_rows = min(rows, 2 * a.test_inputs)  # the naive loop on a subset: its cost is linear in rows
    res["icl_naive_seconds_per_prompt"] = timed(
        lambda: I.icl_distributions_naive(lm.model, enc, orders[: max(1, naive_rows // a.test_inputs)])) / naive_rows
    res["icl_prompts_per_s"] = rows / res["icl_cached_seconds"]
    res["icl_naive_prompts_per_s"] = 1 / res["icl_naive_seconds_per_prompt"]
    res["icl_speedup"] = res["icl_prompts_per_s"] / res["icl_naive_prompts_per_s"]
    # the speedup a FLOP-bound machine allows: tokens the naive loop runs over tokens the cached path runs
    P, Q = len(I.prompt_ids(enc, orders[0])), [len(q) for q in enc.queries]
    res["icl_token_bound"] = len(orders) * sum(P + q for q in Q) / (len(orders) * (P + sum(Q)))

    def recorded():
        with Recorder(lm.model) as rec:
            I.icl_distributions(lm.model, enc, orders, recorder=rec)

    res["icl_recorded_seconds"] = timed(recorded)
    res["finetune_seconds_per_epoch"], res["finetune_one_at_a_time_seconds_per_epoch"] = {}, {}
    for name in a.variants.split(","):  # per ordering and epoch, all orderings side by side where batchable
        var = variant(name.strip())
        r = F.finetune_distributions(lm.model, enc, orders, var, epochs=a.epochs)
        res["finetune_seconds_per_epoch"][name] = r.seconds_per_epoch
        if batchable(lm.model, var.parameter_names(lm.model)):
            r = F.finetune_distributions(lm.model, enc, orders, var, epochs=a.epochs, batched=False)
            res["finetune_one_at_a_time_seconds_per_epoch"][name] = r.seconds_per_epoch
    if a.protocol:
        from iclgd.properties.llm import ProtocolConfig, run_protocol

        t = time.perf_counter()
        out = run_protocol(ProtocolConfig.default(a.device, model=a.model))
        res["protocol_seconds"] = time.perf_counter() - t
        res["protocol_s2"] = out["s2"]["verdict"]
    res["loadavg_after"] = os.getloadavg()
    print(f"{a.model} on {res['device']} ({a.dataset}, N={a.shots}, {len(orders)} orderings × {a.test_inputs} inputs; "
          f"load {load0[0]:.1f} → {res['loadavg_after'][0]:.1f})")
    print(f"  load                     {res['load_seconds']:8.1f} s")
    print(f"  ICL cached               {res['icl_prompts_per_s']:8.1f} prompts/s")
    print(f"  ICL naive (one prompt)   {res['icl_naive_prompts_per_s']:8.1f} prompts/s   speedup {res['icl_speedup']:.1f}× "
          f"(token-count bound {res['icl_token_bound']:.1f}×)")
    print(f"  ICL + recorded internals {rows / res['icl_recorded_seconds']:8.1f} prompts/s")
    for n, s in res["finetune_seconds_per_epoch"].items():
        one = res["finetune_one_at_a_time_seconds_per_epoch"].get(n)
        side = f"   (one ordering at a time {one:.3f}: {one / s:.1f}×)" if one else ""
        print(f"  {n:8} fine-tuning       {s:8.3f} s/epoch per ordering{side}")
    if a.protocol:
        print(f"  protocol shen (default)  {res['protocol_seconds']:8.0f} s   S2 {res['protocol_s2']}")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", f"llm-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1, default=str)
    print(f"  -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
