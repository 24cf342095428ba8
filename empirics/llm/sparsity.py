"""Sparsity of a pretrained model's attention projections (Shen, Mishra & Khashabi 2024, §6).

Sparsity at threshold ε = the fraction of entries with |w| < ε, per layer, for W_Q, W_K, W_V
[choice, SHEN.md], at ε = 1e-2 … 1e-6. With grouped-query attention (SmolLM2: 9 query heads, 3 KV
heads) W_K and W_V are (n_kv_heads·head_dim, hidden): they are measured as stored; the equivalent
multi-head layout repeats each KV head n_heads/n_kv_heads times, which leaves every fraction as is.
"""
from __future__ import annotations

import torch

from .loading import attention_projections

THRESHOLDS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)


@torch.no_grad()
def sparsity_profile(model, thresholds=THRESHOLDS) -> dict:
    """{"thresholds", "layers": [{"q"|"k"|"v": [fraction per ε]}], "mean": {"q"|"k"|"v": [...]},
    "shapes": {"q"|"k"|"v": [rows, cols]}, "attention": {hidden, n_heads, n_kv_heads, head_dim}}."""
    layers = []
    for W in attention_projections(model):
        a = {name: W[name].detach().abs() for name in ("q", "k", "v")}
        layers.append({name: [int((m < e).sum()) / m.numel() for e in thresholds] for name, m in a.items()})
    mean = {name: torch.tensor([l[name] for l in layers]).mean(0).tolist() for name in ("q", "k", "v")}
    first = attention_projections(model)[0]
    cfg = model.config
    n_heads = getattr(cfg, "num_attention_heads", None)
    return {
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
