"""What 4-bit quantisation leaves of a checkpoint's weights (the default model is a Q4_1 GGUF file).

GGUF's Q4_1 stores each block of 32 consecutive weights of a row as w ≈ m + d·q, q ∈ {0, …, 15}, with
d = (max − min)/15 and m = min of the block, both stored in float16 (ggml-quants.c, quantize_row_q4_1).
De-quantised to float32 the weights lie exactly on that grid, so:

- a weight's value before quantisation was within d/2 of its de-quantised value (plus the float16
  rounding of d and m): :func:`q4_1_error_bound`, per entry;
- |w| < ε says nothing about the pretrained weights for ε below the block's step d: it counts grid
  points near zero. An upper bound that holds for the weights before quantisation is
  fraction(|ŵ| < ε + bound) (:mod:`.sparsity`);
- :func:`requantise_q4_1` rounds a de-quantised tensor once more on blocks shifted along the row: a
  second, equally valid 4-bit rounding of the same weights, whose distance from the first measures
  how much a metric depends on the rounding (``bench/quantisation.py``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from .errors import ProbeInputError

BLOCK = 32  # weights per Q4_1 block, along a row
LEVELS = 15  # q ∈ {0, …, 15}
F16_U = 2.0**-11  # float16 unit roundoff: d and m are stored in float16
FULL_PRECISION = {"F32", "F16", "BF16", "F64"}  # GGUF storage types that are not quantised


def gguf_types(path, reader=None) -> dict[str, str]:
    """GGUF tensor name → quantisation type name (e.g. ``blk.0.attn_k.weight`` → ``Q4_1``); ``reader``:
    the ``gguf.GGUFReader`` class or a function of the path that returns one (default: the class)."""
    import gguf

    return {t.name: t.tensor_type.name for t in (reader or gguf.GGUFReader)(str(path)).tensors}


def attention_format(path, reader=None) -> Optional[str]:
    """The quantisation of a GGUF file's attention projections (Q, K, V), e.g. "Q4_1" ("+"-joined when
    they differ), or None when they are stored in full precision or ``path`` is not a GGUF file."""
    if Path(path).suffix != ".gguf":
        return None
    kinds = {k for n, k in gguf_types(path, reader).items()
             if n.endswith(("attn_q.weight", "attn_k.weight", "attn_v.weight"))}
    kinds -= FULL_PRECISION
    return "+".join(sorted(kinds)) or None


def _blocks(W: torch.Tensor) -> torch.Tensor:
    if W.dim() != 2 or W.shape[1] % BLOCK:
        raise ProbeInputError("model", f"a Q4_1 tensor has rows of a multiple of {BLOCK} entries, got {tuple(W.shape)}")
    return W.detach().double().reshape(-1, BLOCK)  # (rows·cols/32, 32)


def q4_1_grid(W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per block of ``W`` (out, in) its step d and minimum m, read back from de-quantised weights, each
    (rows, in/32); raises when the weights are not on a Q4_1 grid (not de-quantised Q4_1 data)."""
    b = _blocks(W)
    m = b.min(1).values
    d = (b.max(1).values - m) / LEVELS
    safe = torch.where(d > 0, d, torch.ones_like(d))
    q = (b - m[:, None]) / safe[:, None]
    if float((q - q.round()).abs().max()) > 1e-3:
        raise ProbeInputError("model", "weights are not on a Q4_1 grid (not de-quantised Q4_1 data)")
    return d.reshape(W.shape[0], -1), m.reshape(W.shape[0], -1)


def q4_1_error_bound(W: torch.Tensor) -> torch.Tensor:
    """Per entry of de-quantised Q4_1 weights ``W`` (out, in): how far the weight before quantisation can
    have been, |w − ŵ| ≤ d/2 + (15·d + |m|)·2⁻¹⁰ (rounding to the nearest level, then d and m each
    rounded to float16: their errors ≤ u16·d and u16·|m|, doubled for slack). (out, in), float64."""
    d, m = q4_1_grid(W)
    bound = d / 2 + (LEVELS * d + m.abs()) * 2 * F16_U  # (rows, in/32)
    return bound.repeat_interleave(BLOCK, dim=1)


def requantise_q4_1(W: torch.Tensor, shift: int = BLOCK // 2) -> torch.Tensor:
    """``W`` (out, in) rounded once more to Q4_1 on blocks shifted by ``shift`` entries along each row (the
    row rotated, quantised, rotated back), d and m in float16 as GGUF stores them; ``W``'s dtype."""
    if W.dim() != 2 or W.shape[1] % BLOCK:
        raise ProbeInputError("model", f"a Q4_1 tensor has rows of a multiple of {BLOCK} entries, got {tuple(W.shape)}")
    x = W.detach().float().roll(-shift, dims=1).reshape(-1, BLOCK)  # (blocks, 32)
    m = x.min(1).values.half().float()
    d = ((x.max(1).values - m) / LEVELS).half().float()
    safe = torch.where(d > 0, d, torch.ones_like(d))
    q = ((x - m[:, None]) / safe[:, None]).round().clamp(0, LEVELS)
    y = (m[:, None] + d[:, None] * q).reshape(W.shape).roll(shift, dims=1)
    return y.to(W.dtype)


def requantised_copy(model, shift: int = BLOCK // 2):
    """A copy of ``model`` with every linear weight that lies on a Q4_1 grid rounded once more
    (:func:`requantise_q4_1`); embeddings and norms (stored otherwise) are left as they are."""
    import copy

    other = copy.deepcopy(model)
    with torch.no_grad():
        for name, mod in other.named_modules():
            if isinstance(mod, torch.nn.Linear) and mod.weight.shape[1] % BLOCK == 0 and "lm_head" not in name:
                try:
                    q4_1_grid(mod.weight)
                except ProbeInputError:
                    continue
                mod.weight.copy_(requantise_q4_1(mod.weight, shift))
    return other
