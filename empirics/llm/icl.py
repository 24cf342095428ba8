"""ICL outputs: p_ICL = M_Θ0(σ(S) ∘ x_t), the next-token distribution after N demonstrations in
ordering σ and a test input (Shen, Mishra & Khashabi 2024, Definition 1's left side).

Batched across orderings and test inputs, reusing the shared prefix: the O ordered demo prefixes
(all of one length, see :mod:`.data`) go through the model once, as one batch, with a KV cache;
then every (ordering, test input) row runs only its query tokens on top of its ordering's cache.
Queries are right-padded, which needs no attention mask in a causal model: a pad is only ever seen
by later pads, and each row is read at its own last real token. Rows are taken in order of query
length, in :data:`CHUNKS` chunks at least, each padded only to its own longest query (padding
to the longest query overall cost up to half the forward on datasets with a long tail of lengths).
"""
from __future__ import annotations

from typing import Sequence

import torch

from .data import Encoded
from .loading import final_hidden, head

CHUNKS = 4  # length-sorted chunks of rows at least [choice: measured in bench/bench_llm.py]


def pad_right(seqs: Sequence[Sequence[int]], pad: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) right-padded ids and the (B,) lengths."""
    T = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad, dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return ids.to(device), torch.as_tensor([len(s) for s in seqs], device=device)


def prompt_ids(enc: Encoded, order: Sequence[int], query: int | None = None) -> list[int]:
    """The full ICL prompt for one ordering (and one test input, if given) as token ids."""
    ids = list(enc.prefix)
    for i in order:
        ids += enc.demo(i)
    if query is not None:
        ids += enc.queries[query]
    return ids


def _cache_rows(cache, rows: torch.Tensor, config):
    """A new cache holding ``cache``'s batch entries ``rows`` (the prefix itself is left untouched)."""
    from transformers.cache_utils import DynamicCache

    return DynamicCache(ddp_cache_data=[(l.keys[rows], l.values[rows]) for l in cache.layers], config=config)


@torch.no_grad()
def icl_distributions(model, enc: Encoded, orders: Sequence[Sequence[int]], *, memory_mb: int = 512,
                      progress=None, recorder=None) -> torch.Tensor:
    """p_ICL for every ordering and test input: (O, I, V) float32 probabilities over the vocabulary.

    ``memory_mb`` bounds the expanded KV cache of one chunk of rows; ``progress`` (optional) is
    called with the number of rows done after each chunk; ``recorder`` (a :class:`.peers.Recorder`
    of ``model``, entered) reads the per-layer internals of every row, ordering-major.
    """
    device = next(model.parameters()).device
    O, I = len(orders), len(enc.queries)
    prefixes = torch.as_tensor([prompt_ids(enc, o) for o in orders], dtype=torch.long, device=device)  # (O, P)
    _, cache = final_hidden(model, prefixes, use_cache=True)
    queries, lengths = pad_right(enc.queries, enc.pad_id, device)  # (I, Q), (I,)
    k0 = cache.layers[0].keys  # (O, kv_heads, P, head_dim)
    row_bytes = 2 * len(cache.layers) * k0[0].numel() * k0.element_size()
    chunk = min(max(1, (memory_mb << 20) // max(row_bytes, 1)), -(-O * I // CHUNKS))
    out = torch.empty(O, I, model.get_output_embeddings().weight.shape[0], dtype=torch.float32)
    pairs = torch.cartesian_prod(torch.arange(O), torch.arange(I))  # (O·I, 2): (ordering, input), ordering-major
    by_length = torch.argsort(lengths.cpu()[pairs[:, 1]], stable=True)  # (O·I,) row positions, shortest query first
    for start in range(0, O * I, chunk):
        at = by_length[start:start + chunk]  # (R,)
        o, i = pairs[at].unbind(-1)
        n = lengths[i.to(device)]  # (R,)
        width = int(n.max())
        rows = _cache_rows(cache, o.to(device), model.config)
        if recorder is not None:  # the query tokens are this forward's whole input
            recorder.rows(n - 1, 0, n, queries.shape[1], index=at)
        h, _ = final_hidden(model, queries[i.to(device), :width], past_key_values=rows, use_cache=True)  # (R, width, H)
        last = h[torch.arange(len(i), device=device), n - 1]  # (R, H)
        out[o, i] = torch.softmax(head(model, last).float(), dim=-1).cpu()
        if progress is not None:
            progress(len(i))
    return out


@torch.no_grad()
def icl_distributions_naive(model, enc: Encoded, orders: Sequence[Sequence[int]]) -> torch.Tensor:
    """The same (O, I, V) distributions, one full prompt at a time with no cache: the reference the
    batched, cached path is tested against."""
    device = next(model.parameters()).device
    out = []
    for o in orders:
        row = []
        for q in range(len(enc.queries)):
            ids = torch.as_tensor([prompt_ids(enc, o, q)], device=device)
            h, _ = final_hidden(model, ids)
            row.append(torch.softmax(head(model, h[0, -1]).float(), dim=-1).cpu())
        out.append(torch.stack(row))
    return torch.stack(out)
