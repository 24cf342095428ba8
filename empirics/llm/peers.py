"""Per-layer internals and the metrics of the peers who compared ICL with fine-tuning on real LMs.

- Dai et al. 2023 ("Why Can GPT Learn In-Context?", microsoft/LMOps ``understand_icl``):
  **SimAOU** — per layer, the cosine between ICL's and fine-tuning's *updates* of the self-attention
  output at the last token, each relative to zero-shot, on unit-normalised outputs:
  cos(n(a_ICL) − n(a_ZS), n(a_FT) − n(a_ZS)); **SimAM** — per layer, the cosine between ICL's and
  fine-tuning's pre-softmax attention scores of the last token over the *query's* tokens (the demos'
  keys left out), averaged over heads; their baseline **ZSL SimAM** is the same between ICL and
  zero-shot; **Rec2FTP** — among predictions fine-tuning turns from wrong (zero-shot) to right, the
  fraction ICL also gets right.
- Deutch et al. 2024 ("In-context Learning and Gradient Descent Revisited", GiilDe/ft-vs-icl):
  **SimAM_Δ** — SimAM on the *changes* of the scores from zero-shot: cos(s_ICL − s_ZS, s_FT − s_ZS).

Definitions follow the peers' analysis scripts (read, not copied); a zero vector's cosine is 0 (their
1e-20 in the denominator gives the same). Scores of padded positions are 0 in every map (their padding).

:class:`Recorder` reads the internals with forward hooks on every layer's self-attention module of a
Hugging Face Llama-family model (separate q/k/v projections, rotary position embeddings passed as
``position_embeddings``): the attention output (``o_proj``'s output) and q·k·scale of each row's last
real token against the query positions, recomputed from the layer's input (no attention weights are
materialised by the model itself, so SDPA stays on).
"""
from __future__ import annotations

from typing import Optional

import torch

from .errors import ProbeInputError


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class Recorder:
    """Record, per layer, at each row's last real token: the attention output (H,) and the pre-softmax
    scores (heads, Q) against the query tokens [qstart, qstart + qlen). Call :meth:`rows` before each
    forward; read :meth:`result` after the last one (rows in call order)."""

    def __init__(self, model):
        self.model = model
        self.attn = [l.self_attn for l in getattr(model.base_model, "layers", [])]
        if not self.attn or not all(hasattr(a, n) for a in self.attn for n in ("q_proj", "k_proj", "o_proj")):
            raise ProbeInputError("metrics", f"{type(model).__name__}: the peers' metrics need a Llama-family model "
                                  "(base_model.layers[i].self_attn with q_proj / k_proj / o_proj)")
        self.out: list[list[torch.Tensor]] = [[] for _ in self.attn]
        self.scores: list[list[torch.Tensor]] = [[] for _ in self.attn]
        self._rows = None
        self._hooks = []
        self._index: list[torch.Tensor] = []

    def rows(self, last: torch.Tensor, qstart: int, qlen: torch.Tensor, Q: int,
             index: Optional[torch.Tensor] = None) -> None:
        """Next forward: rows read at ``last`` (B,), query keys at [qstart, qstart + qlen) padded to Q;
        ``index`` (B,): where these rows go in :meth:`result` (default: after the rows recorded so far)."""
        self._rows = (last, int(qstart), qlen, int(Q))
        if index is not None:
            self._index.append(index.cpu())

    def __enter__(self):
        for i, a in enumerate(self.attn):
            self._hooks.append(a.register_forward_hook(self._hook(i), with_kwargs=True))
        return self

    def __exit__(self, *exc):
        for h in self._hooks:
            h.remove()
        self._hooks = []

    def _hook(self, i: int):
        def hook(mod, args, kwargs, output):
            if self._rows is None:  # a forward the caller did not ask to read (e.g. the shared demo prefix)
                return
            last, q0, qlen, Q = self._rows
            h = kwargs.get("hidden_states", args[0] if args else None)  # (B, T, H) the attention's input
            cos, sin = kwargs["position_embeddings"]  # (1 or B, T, d)
            B, T, _ = h.shape
            d, scale = mod.head_dim, mod.scaling
            rows = torch.arange(B, device=h.device)
            cos, sin = cos.expand(B, -1, -1), sin.expand(B, -1, -1)
            q = mod.q_proj(h[rows, last]).view(B, -1, d)  # (B, heads, d)
            q = q * cos[rows, last][:, None] + _rotate_half(q) * sin[rows, last][:, None]
            k = mod.k_proj(h[:, q0:q0 + Q]).view(B, -1, mod.k_proj.out_features // d, d)  # (B, Q', kv, d)
            c, s = cos[:, q0:q0 + Q, None], sin[:, q0:q0 + Q, None]
            k = (k * c + _rotate_half(k) * s).repeat_interleave(q.shape[1] // k.shape[2], dim=2)  # (B, Q', heads, d)
            sc = torch.einsum("bhd,bqhd->bhq", q, k) * scale  # (B, heads, Q')
            valid = torch.arange(sc.shape[-1], device=h.device)[None, :] < qlen[:, None]  # (B, Q')
            sc = torch.where(valid[:, None], sc, 0.0)
            sc = torch.nn.functional.pad(sc, (0, Q - sc.shape[-1]))  # (B, heads, Q)
            o = output[0] if isinstance(output, tuple) else output  # (B, T, H)
            self.out[i].append(o[rows, last].detach().float().cpu())
            self.scores[i].append(sc.detach().float().cpu())
        return hook

    def result(self) -> dict:
        """{"attn_out": (R, L, H), "scores": (R, L, heads, Q)} for the R rows recorded, in call order or,
        where :meth:`rows` was given indices, in index order."""
        res = {"attn_out": torch.stack([torch.cat(x) for x in self.out], dim=1),
               "scores": torch.stack([torch.cat(x) for x in self.scores], dim=1)}
        if self._index:
            where = torch.cat(self._index)  # (R,)
            if len(where) != len(res["attn_out"]) or not torch.equal(where.sort().values, torch.arange(len(where))):
                raise ValueError("Recorder: the row indices given to rows() are not a permutation of the rows recorded")
            res = {k: torch.empty_like(v).index_copy_(0, where, v) for k, v in res.items()}
        return res


# ---- the metrics (per layer; leading dims are kept) ---------------------------------------------
def _cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a.double(), b.double()
    den = a.norm(dim=-1) * b.norm(dim=-1)
    return torch.where(den > 0, (a * b).sum(-1) / den.clamp_min(torch.finfo(torch.float64).tiny), 0.0)


def _unit(x: torch.Tensor) -> torch.Tensor:
    x = x.double()
    n = x.norm(dim=-1, keepdim=True)
    return torch.where(n > 0, x / n.clamp_min(torch.finfo(torch.float64).tiny), 0.0)


def sim_aou(icl: torch.Tensor, ft: torch.Tensor, zs: torch.Tensor) -> torch.Tensor:
    """Dai et al.'s SimAOU per layer: cos(n(icl) − n(zs), n(ft) − n(zs)); inputs (…, L, H) → (…, L)."""
    z = _unit(zs)
    return _cos(_unit(icl) - z, _unit(ft) - z)


def sim_am(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Dai et al.'s SimAM per layer: mean over heads of cos(scores_a, scores_b) over the query tokens;
    inputs (…, L, heads, Q) → (…, L)."""
    return _cos(a, b).mean(-1)


def sim_am_delta(icl: torch.Tensor, ft: torch.Tensor, zs: torch.Tensor) -> torch.Tensor:
    """Deutch et al.'s SimAM_Δ per layer: mean over heads of cos(s_icl − s_zs, s_ft − s_zs)."""
    return _cos(icl.double() - zs.double(), ft.double() - zs.double()).mean(-1)


def rec2ftp_counts(icl_ok: torch.Tensor, ft_ok: torch.Tensor, zs_ok: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position numerator and denominator of Dai et al.'s Rec2FTP (recall to fine-tuning predictions):
    den = FT right where zero-shot was wrong, num = those ICL also gets right (booleans, broadcast)."""
    den = ft_ok & ~zs_ok
    return (den & icl_ok).to(torch.float64), den.to(torch.float64)


def rec2ftp(icl_ok: torch.Tensor, ft_ok: torch.Tensor, zs_ok: torch.Tensor) -> Optional[float]:
    """Rec2FTP = Σ num / Σ den; None when fine-tuning fixed no zero-shot error (undefined)."""
    num, den = rec2ftp_counts(icl_ok, ft_ok, zs_ok)
    return float(num.sum() / den.sum()) if den.sum() > 0 else None
