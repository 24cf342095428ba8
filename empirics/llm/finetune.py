"""Update algorithms A on the demonstrations: Θ_S = A(Θ0, σ(S)), read as p_A = M_{Θ_S}(x_t) with no
demonstrations in the context (Shen, Mishra & Khashabi 2024, Definition 1's right side; §5 variants).

A variant is a choice of trainable parameters, optimizer and batching (:class:`Variant`):

- ``gd``: full-batch gradient descent on the whole model — every step uses the mean loss over all N
  demos, so in exact arithmetic it ignores their order (S1 consequence (a));
- ``gd-mid`` / ``gd-deep``: ĜD, the same on W_V of one middle layer ⌊L/2⌋ / one deep layer L−1
  (0-based) [choice, SHEN.md];
- ``sgd``: plain SGD with batch size 1, the demos in the given order, whole model;
- ``adam``: Adam with batch size 1, the demos in the given order, whole model [choice: sequential,
  like ``sgd``];
- ``kv-sgd``: SGD with batch size 1 on W_K and W_V of every layer (Dai et al. 2023's fine-tuning
  setting: key/value projections only, batch 1, one epoch in their runs);
- ``lc-gd``: layer-causal GD (Deutch et al. 2024): full-batch GD on W_K, W_V of every layer where each
  layer's input is detached and the loss is the mean over layers of the label loss read out from that
  layer (final norm + head), so a layer learns only from what it computes [choice: full batch, so
  it is order invariant like ``gd``; Deutch et al. ran it with batch 1].

Training length [choice, SHEN.md's 200 epochs on CUDA]: ``epochs`` is a cap; with
``until_converged=True`` the first ordering trains until its demo label loss stops improving
(:data:`PATIENCE` epochs without a decrease of more than :data:`MIN_DELTA` × the initial loss, or the
loss below :data:`LOSS_FLOOR`) and every ordering then runs that many epochs, so orderings stay
comparable. :func:`select_lr` picks the learning rate from the paper's grid.

Loss: cross-entropy on the label-word token(s) only, each demo written alone as
``prefix + input + label`` [paper]; per-demo mean over its label tokens, mean over the demos of a
batch. Dropout stays off (``eval()`` mode): the update is deterministic GD, not a noisy one. For the
full-batch label-loss variants the demo loss after an epoch is the next step's own forward (the
demos in that ordering's row order, so it matches the one-batch demo loss up to rounding).

The base model is never mutated: one working copy is made per call and its trainable parameters
are restored from the base before each ordering.
"""
from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F

from .data import Encoded
from .defaults import PAPER_EPOCHS
from .errors import ProbeInputError
from .icl import CHUNKS, pad_right
from .loading import final_hidden, head, n_layers, value_parameter

PAPER_LRS = (1e-3, 5e-3, 1e-4, 5e-4)  # Shen et al.'s learning-rate grid [paper]
PATIENCE = 2  # epochs without improvement before training stops [choice]
MIN_DELTA = 1e-3  # an improvement smaller than this fraction of the initial demo loss does not count [choice]
LOSS_FLOOR = 1e-3  # a demo label loss below this (nats) is converged [choice]
MOVED = 0.25  # a run whose demo label loss fell by less than this fraction did not learn its demos [choice]


@dataclass(frozen=True)
class Variant:
    name: str
    params: str  # "all" | "v_proj@mid" (W_V of layer ⌊L/2⌋) | "v_proj@deep" (W_V of layer L−1) | "kv" (W_K, W_V of all layers)
    optimizer: str  # "sgd" (a plain gradient step, no momentum) | "adam"
    batch: str  # "full": one step per epoch on the mean loss | "single": one step per demo, in order
    lr: float  # default learning rate, from the paper's grid [choice]
    description: str = ""
    loss: str = "label"  # "label": the label loss at the output | "layer-causal": mean over layers (lc-gd)

    def parameter_names(self, model) -> Optional[list[str]]:
        """Names of the trainable parameters (None: all of them)."""
        if self.params == "all":
            return None
        if self.params == "kv":
            return kv_parameters(model)
        what, _, where = self.params.partition("@")
        L = n_layers(model)
        layer = {"mid": L // 2, "deep": L - 1}.get(where)
        if what != "v_proj" or layer is None:
            raise ProbeInputError("variants", f"{self.name}: unknown parameter set {self.params!r}")
        return [value_parameter(model, layer)]


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("gd", "all", "sgd", "full", 1e-3, "full-batch GD, whole model"),
    Variant("gd-mid", "v_proj@mid", "sgd", "full", 5e-3, "ĜD: full-batch GD on W_V of layer ⌊L/2⌋"),
    Variant("gd-deep", "v_proj@deep", "sgd", "full", 5e-3, "ĜD: full-batch GD on W_V of layer L−1"),
    Variant("sgd", "all", "sgd", "single", 1e-3, "SGD, batch 1, demos in order, whole model"),
    Variant("adam", "all", "adam", "single", 1e-4, "Adam, batch 1, demos in order, whole model"),
    Variant("kv-sgd", "kv", "sgd", "single", 1e-3, "SGD, batch 1, demos in order, W_K and W_V of every layer "
            "(Dai et al. 2023)"),
    Variant("lc-gd", "kv", "sgd", "full", 1e-3, "layer-causal full-batch GD on W_K, W_V of every layer "
            "(Deutch et al. 2024)", loss="layer-causal"),
)}


def kv_parameters(model) -> list[str]:
    """Names of every layer's key and value projection weights (Dai et al.'s fine-tuned subset)."""
    names = [n for n, _ in model.named_parameters() if n.endswith(("k_proj.weight", "v_proj.weight"))]
    if len(names) != 2 * n_layers(model):
        raise ProbeInputError("variants", f"{type(model).__name__} has no separate k_proj / v_proj in every "
                              "layer; kv-sgd and lc-gd need them")
    return names


def variant(name: str, lr: Optional[float] = None) -> Variant:
    if name not in VARIANTS:
        raise ProbeInputError("variants", f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
    v = VARIANTS[name]
    if lr is not None:
        if not lr > 0:
            raise ProbeInputError("lr", f"{name}: must be > 0, got {lr}")
        v = replace(v, lr=float(lr))
    return v


@dataclass
class FineTuneResult:
    variant: Variant
    epochs: int
    probs: torch.Tensor  # (O, I, V) float32: p_A after the last epoch, per ordering and test input
    eval_epochs: list[int] = field(default_factory=list)  # epochs at which the trajectory was read
    label_probs: Optional[torch.Tensor] = None  # (E, O, I, C): label-word probabilities along training
    overlap: Optional[torch.Tensor] = None  # (E, O, I): Token Overlap@k with ``reference`` along training
    losses: Optional[torch.Tensor] = None  # (O, epochs): label loss of each epoch's steps (before each update)
    seconds_per_epoch: float = 0.0  # wall time of one epoch of updates and its demo loss (one ordering), averaged
    demo_loss: Optional[torch.Tensor] = None  # (O, epochs + 1): full demo label loss after each epoch (0: base)
    converged: bool = False  # the first ordering stopped because its demo loss stopped improving
    internals: Optional[dict] = None  # per-layer internals after training: {"attn_out": (O, I, L, H), "scores": (O, I, L, h, Q)}
    random_update: Optional[torch.Tensor] = None  # (O, I, V): the base plus a random update of the trained one's norm
    random_update_internals: Optional[dict] = None
    update_norm: Optional[torch.Tensor] = None  # (O,): ‖Θ_S − Θ0‖ over the trained parameters

    @property
    def loss_drop(self) -> dict:
        """The demo label loss before and after training (mean over orderings), its drop, and whether the
        run learnt its demos (relative drop >= MOVED)."""
        first, last = self.demo_loss[:, 0].mean().item(), self.demo_loss[:, -1].mean().item()
        rel = (first - last) / first if first > 0 else 0.0
        return {"initial": first, "final": last, "drop": first - last, "relative": rel,
                "moved": bool(rel >= MOVED), "epochs": self.epochs, "converged": self.converged}


def optimizer(var: Variant, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """A fresh optimizer: plain SGD (no momentum) or Adam (default betas and eps; the fused kernel on
    CPU/CUDA, about twice as fast as the default on a 135M model)."""
    if var.optimizer == "sgd":
        return torch.optim.SGD(params, lr=var.lr)
    fused = params[0].device.type in ("cpu", "cuda") and params[0].dtype in (torch.float32, torch.float64,
                                                                             torch.float16, torch.bfloat16)
    return torch.optim.Adam(params, lr=var.lr, fused=fused or None)


def grouped_batch(model, enc: Encoded, rows: Sequence[Sequence[int]]):
    """Training rows prefix + input + label for each group's demos ``rows[g]`` (group-major, one
    padding): ids (B, T), the demo index of each row (B,), label positions (M, 2), targets (M,),
    weights (M,) (1 / (label tokens · demos of its group)) and each target's group (M,)."""
    device = next(model.parameters()).device
    seqs, demo, pos, tgt, weight, group = [], [], [], [], [], []
    for g, ds in enumerate(rows):
        for i in ds:
            r, start, lab = len(seqs), len(enc.prefix) + len(enc.demo_inputs[i]), enc.demo_labels[i]
            seqs.append(enc.prefix + enc.demo_inputs[i] + lab)
            demo.append(i)
            for j, t in enumerate(lab):
                pos.append((r, start + j - 1))  # the token before label token j predicts it
                tgt.append(t)
                weight.append(1.0 / (len(lab) * len(ds)))
                group.append(g)
    ids, _ = pad_right(seqs, enc.pad_id, device)
    t = lambda x: torch.as_tensor(x, device=device)  # noqa: E731
    return ids, t(demo), t(pos), t(tgt), t(weight), t(group)


def _batch(model, enc: Encoded, demos: Sequence[int]):
    """Training rows prefix + input + label for ``demos``, and where each label token is predicted."""
    ids, _, pos, tgt, weight, _ = grouped_batch(model, enc, [demos])
    return ids, pos, tgt, weight


def has_converged(dl: Sequence[float]) -> bool:
    """The convergence rule on a demo-loss history dl[0..e] (dl[0]: the base model): the last loss below
    :data:`LOSS_FLOOR` or not finite, or the last :data:`PATIENCE` epochs each without a decrease of more
    than :data:`MIN_DELTA` × dl[0] below the best loss before it."""
    if dl[-1] < LOSS_FLOOR or not math.isfinite(dl[-1]):
        return True
    waited, best = 0, dl[0]
    for x in dl[1:]:
        waited = 0 if x < best - MIN_DELTA * dl[0] else waited + 1
        best = min(best, x)
    return waited >= PATIENCE


def label_loss(model, batch) -> torch.Tensor:
    """Mean over demos of the mean cross-entropy of their label tokens."""
    ids, pos, tgt, weight = batch
    h, _ = final_hidden(model, ids)  # (B, T, H)
    logits = head(model, h[pos[:, 0], pos[:, 1]]).float()  # (M, V)
    return (F.cross_entropy(logits, tgt, reduction="none") * weight).sum()


def layer_causal_loss(model, batch) -> torch.Tensor:
    """Deutch et al.'s layer-causal objective: every decoder layer's input is detached and the label
    loss is read out from every layer's output through the final norm and the head; mean over layers."""
    return layer_causal_token_losses(model, batch).sum()


def layer_causal_token_losses(model, batch) -> torch.Tensor:
    """:func:`layer_causal_loss` per label token (M,), weighted: their sum is the loss."""
    ids, pos, tgt, weight = batch
    layers, outs = decoder_layers(model), []
    norm = model.base_model.norm
    pre = [l.register_forward_pre_hook(lambda m, a, kw: ((a[0].detach(),) + a[1:], kw), with_kwargs=True)
           for l in layers]
    post = [l.register_forward_hook(lambda m, a, o: outs.append(o[0] if isinstance(o, tuple) else o)) for l in layers]
    try:
        model.base_model(input_ids=ids)
    finally:
        for h in pre + post:
            h.remove()
    total = 0.0
    for h in outs:  # (B, T, H) per layer
        logits = head(model, norm(h[pos[:, 0], pos[:, 1]])).float()  # (M, V)
        total = total + F.cross_entropy(logits, tgt, reduction="none") * weight  # (M,)
    return total / len(outs)


def decoder_layers(model) -> list:
    layers = getattr(model.base_model, "layers", None)
    if layers is None:
        raise ProbeInputError("variants", f"{type(model).__name__}: no decoder layer list (base_model.layers)")
    return list(layers)


LOSSES = {"label": label_loss, "layer-causal": layer_causal_loss}


@torch.no_grad()
def demo_loss(model, enc: Encoded) -> float:
    """The label loss on all demos at once (the quantity whose decrease says a run learnt its demos)."""
    return float(label_loss(model, _batch(model, enc, range(enc.shots))))


@torch.no_grad()
def next_token_distributions(model, enc: Encoded, internals: bool = False, copies: int = 1):
    """M_Θ(x_t) for every test input, no demonstrations: (I, V) float32 probabilities; with
    ``internals`` also the per-layer internals of :class:`.peers.Recorder` (query tokens only).
    ``copies``: the test inputs that many times over, (copies·I, V) (orderings side by side, :mod:`.batched`)."""
    device = next(model.parameters()).device
    seqs = [enc.prefix + q for q in enc.queries] * copies
    P, Q = len(enc.prefix), max(len(s) for s in seqs) - len(enc.prefix)
    rec = None
    if internals:
        from .peers import Recorder

        rec = Recorder(model)
    out, I = None, len(enc.queries)
    order = sorted(range(I), key=lambda i: len(enc.queries[i]))  # shortest first
    step = -(-I // CHUNKS)
    with rec if rec is not None else contextlib.nullcontext():
        for start in range(0, I, step):  # length-sorted chunks of inputs, each padded to its own longest
            # every copy of the chunk's inputs, copy-major: equal groups, as batched.PerOrdering reads them
            at = [c * I + i for c in range(copies) for i in order[start:start + step]]
            ids, lengths = pad_right([seqs[r] for r in at], enc.pad_id, device)  # (R, T), (R,)
            if rec is not None:  # the query tokens of these rows, padded to the longest of all rows
                rec.rows(lengths - 1, P, lengths - P, Q, index=torch.as_tensor(at))
            h, _ = final_hidden(model, ids)  # (R, T, H)
            last = h[torch.arange(len(at), device=device), lengths - 1]  # (R, H)
            p = torch.softmax(head(model, last).float(), dim=-1).cpu()  # (R, V)
            if out is None:
                out = torch.empty(len(seqs), p.shape[-1], dtype=p.dtype)
            out[torch.as_tensor(at)] = p
    return (out, rec.result()) if internals else out


def finetune_distributions(
    model, enc: Encoded, orders: Sequence[Sequence[int]], var: Variant, *, epochs: int,
    eval_every: int = 0, reference: Optional[torch.Tensor] = None, k: int = 10,
    progress: Optional[Callable[[int], None]] = None, until_converged: bool = False, internals: bool = False,
    null_seed: Optional[int] = None, batched: bool = True, base_probs: Optional[torch.Tensor] = None,
    outputs: bool = True,
) -> FineTuneResult:
    """Run ``var`` from the base weights once per ordering and read p_A on the test inputs.

    ``epochs`` is the number of epochs, or with ``until_converged`` the cap (see the module docstring).
    ``internals`` also records the per-layer internals (:class:`.peers.Recorder`) after training;
    ``null_seed`` (an int) also reads the random-update null: the base weights plus a Gaussian update
    of the trained parameters with the trained update's norm (one draw per ordering, seeded).

    ``eval_every`` > 0 also reads the label-word probabilities (and, given ``reference`` (O, I, V),
    the Token Overlap@``k`` with it) at epoch 0 (the base model) and every that many epochs, for the
    training-trajectory curves.
    ``progress`` is called with the number of (ordering, epoch) pairs done: 1 after each epoch of each
    ordering, or O after each epoch of all orderings side by side.
    ``batched``: a variant that trains a subset of linear weights (ĜD, kv-sgd, lc-gd) trains all
    orderings side by side (:mod:`.batched`); False runs one ordering at a time (the reference the
    batched path is tested against). Whole-model variants always run one ordering at a time.
    ``base_probs``: the base model's (I, V) distributions on the test inputs when the caller has them
    (the zero-shot read), so the trajectory's epoch 0 is not computed again.
    ``outputs=False``: train and record the demo losses only, no read of the test inputs (``probs`` is
    (O, 0, 0); what :func:`select_lr` needs); needs ``eval_every=0``, no internals and no null.
    """
    from .metrics import token_overlap

    if epochs < 1:
        raise ProbeInputError("epochs", f"must be >= 1, got {epochs}")
    if var.optimizer not in ("sgd", "adam") or var.batch not in ("full", "single"):
        raise ProbeInputError("variants", f"{var.name}: unknown optimizer/batch {var.optimizer}/{var.batch}")
    if not outputs and (eval_every or internals or null_seed is not None):
        raise ProbeInputError("outputs", "a run without test-input reads has no trajectory, internals or null")
    names = var.parameter_names(model)
    if batched:
        from .batched import batchable, finetune_batched

        if batchable(model, names):
            return finetune_batched(model, enc, orders, var, names, epochs=epochs, eval_every=eval_every,
                                    reference=reference, k=k, progress=progress, until_converged=until_converged,
                                    internals=internals, null_seed=null_seed, base_probs=base_probs,
                                    outputs=outputs)
    work = copy.deepcopy(model)  # the base model is only ever read
    work.eval()
    base = dict(model.named_parameters())
    if names is None:
        trainable = list(work.parameters())
        names = [n for n, _ in work.named_parameters()]
    else:
        trainable = [work.get_parameter(n) for n in names]
    for p in trainable:
        p.requires_grad_(True)
    labels = torch.as_tensor(enc.label_tokens)
    loss_fn = LOSSES[var.loss]
    O = len(orders)
    probs, lab_tr, ov_tr, losses, times = [], [], [], torch.zeros(O, epochs), []
    demo_losses, converged, ints, nulls, null_ints, norms = [], False, [], [], [], []
    stop = epochs  # fixed by the first ordering when until_converged
    # full-batch label loss: the step's own forward on all demos is the demo loss (one forward an epoch saved)
    fused = var.batch == "full" and var.loss == "label"
    base_p = (base_probs if base_probs is not None else next_token_distributions(model, enc)) if eval_every else None  # (I, V)
    for oi, order in enumerate(orders):
        with torch.no_grad():
            for n in names:
                work.get_parameter(n).copy_(base[n])
        opt = optimizer(var, trainable)
        steps = [list(order)] if var.batch == "full" else [[i] for i in order]
        batches = [_batch(work, enc, s) for s in steps]
        lab_o, ov_o = [], []
        pending = loss_fn(work, batches[0]) if fused else None  # the next step's forward, with its graph
        dl = [float(pending.detach()) if fused else demo_loss(work, enc)]
        e = 0
        while e < stop:
            e += 1
            t0 = time.perf_counter()
            for b in batches:
                opt.zero_grad(set_to_none=True)
                loss, pending = (pending if pending is not None else loss_fn(work, b)), None
                loss.backward()
                opt.step()
                losses[oi, e - 1] += float(loss.detach()) / len(batches)
            if fused:
                with torch.set_grad_enabled(e < stop):  # no graph when no step can follow
                    pending = loss_fn(work, batches[0])
                dl.append(float(pending.detach()))
            else:
                dl.append(demo_loss(work, enc))
            times.append(time.perf_counter() - t0)
            if progress is not None:
                progress(1)
            if until_converged and oi == 0 and has_converged(dl):
                converged, stop = True, e
            if eval_every and e % eval_every == 0 and e < stop:
                _read(work, enc, labels, reference, oi, k, lab_o, ov_o, token_overlap)
        pending = None  # an early stop leaves a graph behind
        if not outputs:
            probs.append(torch.empty(0, 0))
            demo_losses.append(dl)
            continue
        p = next_token_distributions(work, enc, internals)  # (I, V)
        if internals:
            p, rec = p
            ints.append(rec)
        if null_seed is not None:
            norms.append(random_update([work.get_parameter(n) for n in names], [base[n] for n in names],
                                       torch.Generator().manual_seed(null_seed + oi)))
            q = next_token_distributions(work, enc, internals)
            if internals:
                q, rec = q
                null_ints.append(rec)
            nulls.append(q)
        if eval_every:  # epoch 0 (the base model) first, the last epoch at the end
            lab_o.insert(0, base_p[:, labels])
            if reference is not None:
                ov_o.insert(0, token_overlap(reference[oi], base_p, k=k))
            lab_o.append(p[:, labels])
            if reference is not None:
                ov_o.append(token_overlap(reference[oi], p, k=k))
        probs.append(p)
        demo_losses.append(dl)
        if eval_every:
            lab_tr.append(torch.stack(lab_o))
            if ov_o:
                ov_tr.append(torch.stack(ov_o))
    del work
    eval_epochs = ([0] + [e for e in range(eval_every, stop, eval_every)] + [stop]) if eval_every else []
    return FineTuneResult(
        variant=var, epochs=stop, probs=torch.stack(probs), eval_epochs=eval_epochs,
        label_probs=torch.stack(lab_tr, dim=1) if lab_tr else None,
        overlap=torch.stack(ov_tr, dim=1) if ov_tr else None,
        losses=losses[:, :stop], seconds_per_epoch=sum(times) / len(times),
        demo_loss=torch.tensor(demo_losses, dtype=torch.float64), converged=converged,
        internals=_stack(ints), random_update=torch.stack(nulls) if nulls else None,
        random_update_internals=_stack(null_ints), update_norm=torch.tensor(norms) if norms else None,
    )


def _stack(recs: list) -> Optional[dict]:
    return {k: torch.stack([r[k] for r in recs]) for k in recs[0]} if recs else None


@torch.no_grad()
def random_update(trained: Sequence[torch.Tensor], base: Sequence[torch.Tensor], g: torch.Generator) -> float:
    """Overwrite the ``trained`` tensors by base + r·‖Δ‖/‖r‖ (Δ = trained − base over all of them, r
    standard Gaussian from ``g``, drawn once per tensor in its dtype; norms accumulated in float64);
    returns ‖Δ‖."""
    d2, r2, rs = 0.0, 0.0, []
    for t, b in zip(trained, base):
        d2 += float((t - b).double().pow(2).sum())
        r = torch.randn(b.shape, generator=g, dtype=b.dtype, device=g.device)
        r2 += float(r.double().pow(2).sum())
        rs.append(r)
    scale = (d2 / r2) ** 0.5 if r2 > 0 else 0.0
    for t, b, r in zip(trained, base, rs):
        t.copy_(b + scale * r.to(b.device))
    return d2**0.5


def _read(work, enc, labels, reference, oi, k, lab_o, ov_o, token_overlap) -> None:
    """One trajectory reading: label-word probabilities (and Token Overlap with ICL) at this epoch."""
    p = next_token_distributions(work, enc)
    lab_o.append(p[:, labels])
    if reference is not None:
        ov_o.append(token_overlap(reference[oi], p, k=k))


def select_lr(model, enc: Encoded, var: Variant, grid: Sequence[float] = PAPER_LRS, *, epochs: int,
              order: Optional[Sequence[int]] = None) -> tuple[Variant, dict]:
    """The learning rate of ``grid`` with the lowest demo label loss at convergence, trained on the drawn
    order (identity) [choice: the paper's selection rule was not available]. A run whose demo loss is
    non-finite or ended above its start is excluded; if every run is, the smallest rate is kept (and
    the result will say the variant did not move). Returns the variant with that rate and the grid's
    final losses {lr: loss}."""
    if not grid or any(not (g > 0 and math.isfinite(g)) for g in grid):
        raise ProbeInputError("lr_grid", f"every learning rate must be a finite number > 0, got {list(grid)}")
    order = list(range(enc.shots)) if order is None else list(order)
    finals = {}
    for lr in grid:
        r = finetune_distributions(model, enc, [order], replace(var, lr=float(lr)), epochs=epochs,
                                   until_converged=True, outputs=False)
        finals[float(lr)] = r.demo_loss[0, -1].item() if r.demo_loss[0, -1] <= r.demo_loss[0, 0] else math.inf
    ok = {lr: v for lr, v in finals.items() if math.isfinite(v)}
    best = min(ok, key=lambda lr: (ok[lr], lr)) if ok else min(finals)
    return replace(var, lr=best), finals

