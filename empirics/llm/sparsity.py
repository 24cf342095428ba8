"""Sparsity of a pretrained model's attention projections (Shen, Mishra & Khashabi 2024, §6).

Sparsity at threshold ε = the fraction of entries with |w| < ε, per layer, for W_Q, W_K, W_V
[choice, SHEN.md], at ε = 1e-2 … 1e-6. With grouped-query attention (SmolLM2: 9 query heads, 3 KV
heads) W_K and W_V are (n_kv_heads·head_dim, hidden): they are measured as stored; the equivalent
multi-head layout repeats each KV head n_heads/n_kv_heads times, which leaves every fraction as is.

On de-quantised Q4_1 weights (the default SmolLM2 file) every ε above is below the quantisation step
(SmolLM2's attention blocks: steps 0.02–0.1), so |ŵ| < ε counts grid points near zero, not pretrained
weights. ``quantised="Q4_1"`` adds ``upper``: per layer the fraction of |ŵ| < ε + b, b the entry's
rounding bound (:func:`.quantisation.q4_1_error_bound`) — an upper bound on the fraction |w| < ε of
the weights before quantisation, whatever they were.
"""
from __future__ import annotations

from typing import Optional

import torch

from .loading import attention_projections
from .quantisation import q4_1_error_bound, q4_1_grid

THRESHOLDS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)


@torch.no_grad()
def sparsity_profile(model, thresholds=THRESHOLDS, quantised: Optional[str] = None) -> dict:
    """{"thresholds", "layers": [{"q"|"k"|"v": [fraction per ε]}], "mean": {"q"|"k"|"v": [...]},
    "shapes": {"q"|"k"|"v": [rows, cols]}, "attention": {hidden, n_heads, n_kv_heads, head_dim},
    "quantised"}; with ``quantised="Q4_1"`` also "upper" and "mean_upper" (bounds for the weights before
    quantisation, see the module docstring) and "step" (median and smallest block step per projection); another
    quantisation is only named (no bound for it here)."""
    bound = quantised == "Q4_1"  # the one format whose rounding bound is implemented
    layers, upper, steps = [], [], {"q": [], "k": [], "v": []}
    for W in attention_projections(model):
        a = {name: W[name].detach().abs() for name in ("q", "k", "v")}
        layers.append({name: [int((m < e).sum()) / m.numel() for e in thresholds] for name, m in a.items()})
        if bound:
            b = {name: q4_1_error_bound(W[name]) for name in ("q", "k", "v")}
            upper.append({name: [int((m.double() < e + b[name]).sum()) / m.numel() for e in thresholds]
                          for name, m in a.items()})
            for name in steps:
                steps[name].append(q4_1_grid(W[name])[0].flatten())
    mean = {name: torch.tensor([l[name] for l in layers]).mean(0).tolist() for name in ("q", "k", "v")}
    extra = {}
    if bound:
        extra = {"upper": upper,
                 "mean_upper": {n: torch.tensor([l[n] for l in upper]).mean(0).tolist() for n in ("q", "k", "v")},
                 "step": {n: {"median": float(torch.cat(v).median()), "min": float(torch.cat(v).min())}
                          for n, v in steps.items()}}
    first = attention_projections(model)[0]
    cfg = model.config
    n_heads = getattr(cfg, "num_attention_heads", None)
    return {
        "quantised": quantised,
        **extra,
        "thresholds": list(thresholds),
        "layers": layers,
        "mean": mean,
        "shapes": {name: list(first[name].shape) for name in ("q", "k", "v")},
        "attention": {
            "hidden": int(cfg.hidden_size),
            "n_heads": n_heads,
            "n_kv_heads": getattr(cfg, "num_key_value_heads", None) or n_heads,
            "head_dim": getattr(cfg, "head_dim", None) or (cfg.hidden_size // n_heads if n_heads else None),
        },
    }
