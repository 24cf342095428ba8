"""Every ordering of one fine-tuning variant trained side by side, for variants that train a subset of
linear weights (ĜD's W_V of one layer, W_K/W_V of every layer): issue 12's "GD vectorised over
orderings".

- :class:`PerOrdering` replaces each trained linear layer of the working copy by one holding a
  weight per ordering; batches are ordering-major (O equal groups of rows) and group o is multiplied
  by weight o, so one forward/backward trains all O orderings, each on its own loss (the total is
  the sum of the orderings' losses, so each weight's gradient is its own ordering's). SGD and Adam
  are elementwise: one optimizer over the stacked weights is O independent ones.
- :class:`FrozenPrefix`: when nothing below decoder layer ℓ is trained (ĜD), the hidden states
  entering ℓ are the same for every ordering and epoch; they are computed once from the base model
  and every training step, demo loss and trajectory reading runs layers ℓ… only (for ĜD on the last
  layer of a 30-layer model, a thirtieth of the forward and backward).

The result is the one :func:`.finetune.finetune_distributions` returns for one ordering at a time,
equal up to rounding (tested in float64); the trajectory, the random-update null (the same seeded
draws) and the per-layer internals (a full forward of all orderings at once) included.
"""
from __future__ import annotations

import copy
import time
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from .data import Encoded
from .finetune import (FineTuneResult, grouped_batch, has_converged, layer_causal_token_losses,
                       next_token_distributions, optimizer, random_update)
from .icl import pad_right
from .loading import _LAYER, final_hidden, head
from .metrics import token_overlap


class PerOrdering(torch.nn.Module):
    """A linear layer with one weight per ordering, for O orderings trained side by side: the input's
    rows are ordering-major (O equal groups) and group o uses ``weight[o]``."""

    def __init__(self, lin: torch.nn.Linear, O: int):
        super().__init__()
        self.in_features, self.out_features = lin.in_features, lin.out_features
        self.weight = torch.nn.Parameter(lin.weight.detach().unsqueeze(0).repeat(O, 1, 1))  # (O, out, in)
        self.bias = (None if lin.bias is None else
                     torch.nn.Parameter(lin.bias.detach().unsqueeze(0).repeat(O, 1), requires_grad=False))  # (O, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (O·b, …, in)
        O = self.weight.shape[0]
        y = torch.bmm(x.reshape(O, -1, x.shape[-1]), self.weight.transpose(1, 2))  # (O, b·…, out)
        if self.bias is not None:
            y = y + self.bias[:, None]
        return y.reshape(*x.shape[:-1], self.out_features)


def batchable(model, names: Optional[Sequence[str]]) -> bool:
    """Whether the trained parameters ``names`` are all weights of linear layers (None: the whole model,
    not batchable: O copies of every weight)."""
    if not names:
        return False
    for n in names:
        path, _, leaf = n.rpartition(".")
        if leaf != "weight" or not isinstance(model.get_submodule(path), torch.nn.Linear):
            return False
    return True


class FrozenPrefix:
    """The hidden states entering decoder layer ``start`` computed once (by ``model``, whose layers below
    ``start`` are never trained), then layers ``start``… and the final norm run on any rows of them.
    ``None`` from :meth:`build` where the model is not a decoder-layer stack or the layer's extra
    inputs (mask, rotary embeddings) are per row (they must broadcast over a new batch)."""

    def __init__(self, start: int):
        self.start = start

    @classmethod
    def build(cls, model, start: int) -> Optional["FrozenPrefix"]:
        stack = all(getattr(model.base_model, a, None) is not None for a in ("layers", "norm"))
        return cls(start) if start >= 1 and stack else None

    @torch.no_grad()
    def enter(self, model, ids: torch.Tensor) -> Optional[tuple[torch.Tensor, dict]]:
        """(B, T, H) states entering layer ``start`` for ``ids`` (B, T), and that layer's other inputs."""
        got = {}

        def grab(mod, args, kwargs):
            got["h"] = args[0] if args else kwargs["hidden_states"]
            got["kw"] = {k: v for k, v in kwargs.items() if k != "hidden_states"}

        hook = model.base_model.layers[self.start].register_forward_pre_hook(grab, with_kwargs=True)
        try:
            final_hidden(model, ids)
        finally:
            hook.remove()

        def per_row(v) -> bool:
            if isinstance(v, torch.Tensor):
                return v.dim() > 0 and v.shape[0] != 1
            return isinstance(v, (tuple, list)) and any(per_row(x) for x in v)

        if "h" not in got or any(per_row(v) for v in got["kw"].values()):
            return None
        return got["h"], got["kw"]

    def run(self, work, h: torch.Tensor, kw: dict) -> torch.Tensor:
        """Final hidden states (B, T, H) of ``work`` from states entering layer ``start`` (B, T, H)."""
        for layer in work.base_model.layers[self.start:]:
            out = layer(h, **kw)
            h = out[0] if isinstance(out, tuple) else out
        return work.base_model.norm(h)


class Trainer:
    """One variant's O orderings side by side on a working copy of ``model`` (see the module docstring)."""

    def __init__(self, model, enc: Encoded, O: int, var, names: Sequence[str]):
        self.enc, self.O, self.names = enc, O, list(names)
        self.work = copy.deepcopy(model).eval().requires_grad_(False)  # the base model is only ever read
        self.base = {n: model.get_parameter(n) for n in names}
        self.mods = []
        for n in names:
            path = n.rpartition(".")[0]
            parent, _, leaf = path.rpartition(".")
            mod = PerOrdering(self.work.get_submodule(path), O)
            setattr(self.work.get_submodule(parent), leaf, mod)
            self.mods.append(mod)
        self.trainable = [m.weight for m in self.mods]
        start = min(int(m.group(1)) if m else 0 for m in (_LAYER.search("." + n) for n in names))  # lowest trained layer
        self.prefix = FrozenPrefix.build(model, start) if var.loss == "label" else None
        self.demo_states = self.query_states = None
        if self.prefix is not None:
            all_demos = grouped_batch(model, enc, [range(enc.shots)])
            self.demo_states = self.prefix.enter(model, all_demos[0])  # (N, T, H), rows = demo index
            ids, _ = pad_right([enc.prefix + q for q in enc.queries], enc.pad_id, all_demos[0].device)
            self.query_states = self.prefix.enter(model, ids)  # (I, Tq, H)
            if self.demo_states is None or self.query_states is None:
                self.prefix = None

    def losses(self, batch, loss: str) -> torch.Tensor:
        """(O,) each ordering's loss on its rows of ``batch``: "label" (at the output) or "layer-causal"."""
        ids, demo, pos, tgt, weight, group = batch
        if loss == "layer-causal":
            tok = layer_causal_token_losses(self.work, (ids, pos, tgt, weight))  # (M,)
        else:
            if self.prefix is not None:
                h0, kw = self.demo_states
                h = self.prefix.run(self.work, h0[demo], kw)  # (B, T, H): every row padded to the longest demo
            else:
                h, _ = final_hidden(self.work, ids)  # (B, T, H)
            logits = head(self.work, h[pos[:, 0], pos[:, 1]]).float()  # (M, V)
            tok = F.cross_entropy(logits, tgt, reduction="none") * weight  # (M,)
        return torch.zeros(self.O, dtype=tok.dtype, device=tok.device).index_add(0, group, tok)

    @torch.no_grad()
    def distributions(self, internals: bool = False):
        """p_A of every ordering on every test input (O, I, V), with the internals if asked (a full
        forward: the recorder reads every layer)."""
        if internals or self.prefix is None:
            out = next_token_distributions(self.work, self.enc, internals=internals, copies=self.O)
            p, rec = out if internals else (out, None)
            return p.view(self.O, -1, p.shape[-1]), rec
        h0, kw = self.query_states
        I = h0.shape[0]
        h = self.prefix.run(self.work, h0.repeat(self.O, 1, 1), kw)  # (O·I, Tq, H)
        lengths = torch.as_tensor([len(self.enc.prefix) + len(q) for q in self.enc.queries], device=h.device)
        last = h[torch.arange(self.O * I, device=h.device), lengths.repeat(self.O) - 1]  # (O·I, H)
        return torch.softmax(head(self.work, last).float(), dim=-1).cpu().view(self.O, I, -1), None

    def random_update(self, seed: int) -> list[float]:
        """Each ordering's weights replaced by its random-update null (:func:`.finetune.random_update`,
        drawn from ``Generator(seed + o)`` as one ordering at a time draws it); returns the ‖Δ_o‖."""
        base = [self.base[n] for n in self.names]
        return [random_update([m.weight[o] for m in self.mods], base, torch.Generator().manual_seed(seed + o))
                for o in range(self.O)]


def finetune_batched(model, enc: Encoded, orders, var, names, *, epochs: int, eval_every: int, reference,
                     k: int, progress, until_converged: bool, internals: bool, null_seed: Optional[int],
                     base_probs: Optional[torch.Tensor] = None, outputs: bool = True):
    """:func:`.finetune.finetune_distributions` for a :func:`batchable` variant, all orderings at once."""
    O, N = len(orders), enc.shots
    tr = Trainer(model, enc, O, var, names)
    labels = torch.as_tensor(enc.label_tokens)
    opt = optimizer(var, tr.trainable)
    steps = [[list(o) for o in orders]] if var.batch == "full" else [[[o[s]] for o in orders] for s in range(N)]
    batches = [grouped_batch(model, enc, s) for s in steps]
    demo_batch = grouped_batch(model, enc, [range(N)] * O)
    fused = var.batch == "full" and var.loss == "label"  # the step's own forward is each ordering's demo loss

    def demo_losses():
        with torch.no_grad():
            return tr.losses(demo_batch, "label").double().cpu()  # (O,)

    losses, times, lab_tr, ov_tr = torch.zeros(O, epochs), [], [], []
    pending = tr.losses(batches[0], var.loss) if fused else None  # (O,) the next step's forward, with its graph
    dl = [pending.detach().double().cpu() if fused else demo_losses()]  # per epoch: (O,)
    if eval_every:  # epoch 0: the base model
        base_p = (base_probs if base_probs is not None else next_token_distributions(model, enc)).expand(O, -1, -1)  # (O, I, V)
        lab_tr.append(base_p[..., labels])
        if reference is not None:
            ov_tr.append(token_overlap(reference, base_p, k=k))
    stop, converged, e, eval_epochs = epochs, False, 0, [0] if eval_every else []
    while e < stop:
        e += 1
        t0 = time.perf_counter()
        for b in batches:
            opt.zero_grad(set_to_none=True)
            per, pending = (pending if pending is not None else tr.losses(b, var.loss)), None  # (O,)
            per.sum().backward()
            opt.step()
            losses[:, e - 1] += per.detach().double().cpu() / len(batches)
        if fused:
            with torch.set_grad_enabled(e < stop):  # no graph when no step can follow
                pending = tr.losses(batches[0], var.loss)
            dl.append(pending.detach().double().cpu())
        else:
            dl.append(demo_losses())
        times.append((time.perf_counter() - t0) / O)
        if progress is not None:
            progress(O)
        if until_converged and has_converged([float(x[0]) for x in dl]):  # the first ordering decides
            converged, stop = True, e
        if eval_every and e % eval_every == 0 and e < stop:
            p, _ = tr.distributions()
            lab_tr.append(p[..., labels])
            if reference is not None:
                ov_tr.append(token_overlap(reference, p, k=k))
            eval_epochs.append(e)
    pending = None
    if not outputs:
        return FineTuneResult(variant=var, epochs=stop, probs=torch.empty(O, 0, 0), losses=losses[:, :stop],
                              seconds_per_epoch=sum(times) / len(times), demo_loss=torch.stack(dl, dim=1),
                              converged=converged)
    p, rec = tr.distributions(internals)
    rand, rand_rec, norms = None, None, None
    if null_seed is not None:
        norms = torch.tensor(tr.random_update(null_seed))
        rand, rand_rec = tr.distributions(internals)
    if eval_every:
        lab_tr.append(p[..., labels])
        if reference is not None:
            ov_tr.append(token_overlap(reference, p, k=k))
        eval_epochs.append(stop)

    def per_ordering(r):
        return None if r is None else {key: v.view(O, -1, *v.shape[1:]) for key, v in r.items()}

    return FineTuneResult(
        variant=var, epochs=stop, probs=p, eval_epochs=eval_epochs,
        label_probs=torch.stack(lab_tr) if lab_tr else None, overlap=torch.stack(ov_tr) if ov_tr else None,
        losses=losses[:, :stop], seconds_per_epoch=sum(times) / len(times),
        demo_loss=torch.stack(dl, dim=1), converged=converged,
        internals=per_ordering(rec), random_update=rand, random_update_internals=per_ordering(rand_rec),
        update_norm=norms,
    )
