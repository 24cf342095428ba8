"""Agreement between two next-token distributions (Shen, Mishra & Khashabi 2024, §5 metrics).

All functions take probabilities ``p``, ``q`` of shape (…, V) and return one value per leading
index (…), so (O, I, V) inputs give per-ordering, per-input values.

- :func:`accuracy`: argmax over the whole vocabulary equals the gold label word's first token [paper];
- :func:`token_overlap`: Token Overlap@k = |Top_k(p) ∩ Top_k(q)| / k [paper, k = 10];
- :func:`overlap_cosine`: Overlap Cosine Similarity [choice, the paper's definition was not available
  to us]: the cosine between p and q restricted to the union of their top-k tokens, or to the
  intersection (0 when the two top-k sets are disjoint: no shared support, no agreement).
"""
from __future__ import annotations

import torch


def accuracy(p: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    """1.0 where argmax_v p[…, v] is the gold token, else 0.0. ``gold``: (…) token ids (broadcast)."""
    return (p.argmax(-1) == torch.as_tensor(gold, device=p.device)).to(torch.float64)


def _topk_mask(p: torch.Tensor, k: int) -> torch.Tensor:
    idx = p.topk(k, dim=-1).indices  # (…, k)
    return torch.zeros_like(p, dtype=torch.bool).scatter_(-1, idx, True)  # (…, V)


def token_overlap(p: torch.Tensor, q: torch.Tensor, k: int = 10) -> torch.Tensor:
    """|Top_k(p) ∩ Top_k(q)| / k, in [0, 1]."""
    _check(p, q, k)
    return (_topk_mask(p, k) & _topk_mask(q, k)).sum(-1).to(torch.float64) / k


def overlap_cosine(p: torch.Tensor, q: torch.Tensor, k: int = 10, mode: str = "union") -> torch.Tensor:
    """cos(p|_T, q|_T) with T = Top_k(p) ∪ Top_k(q) (``mode="union"``) or ∩ (``"intersection"``)."""
    _check(p, q, k)
    mp, mq = _topk_mask(p, k), _topk_mask(q, k)
    if mode == "union":
        m = mp | mq
    elif mode == "intersection":
        m = mp & mq
    else:
        raise ValueError(f"mode: must be 'union' or 'intersection', got {mode!r}")
    a = torch.where(m, p, 0).to(torch.float64)
    b = torch.where(m, q, 0).to(torch.float64)
    den = a.norm(dim=-1) * b.norm(dim=-1)  # (…)
    return torch.where(den > 0, (a * b).sum(-1) / den.clamp_min(torch.finfo(torch.float64).tiny), 0.0)


def _check(p: torch.Tensor, q: torch.Tensor, k: int) -> None:
    if p.shape != q.shape:
        raise ValueError(f"q: shape {tuple(q.shape)} differs from p {tuple(p.shape)}")
    if not 1 <= k <= p.shape[-1]:
        raise ValueError(f"k: must be in [1, {p.shape[-1]}], got {k}")
