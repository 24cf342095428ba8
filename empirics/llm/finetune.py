"""Update algorithms A on the demonstrations: Θ_S = A(Θ0, σ(S)), read as p_A = M_{Θ_S}(x_t) with no
demonstrations in the context (Shen, Mishra & Khashabi 2024, Definition 1's right side; §5 variants).

A variant is a choice of trainable parameters, optimizer and batching (:class:`Variant`):

- ``gd``: full-batch gradient descent on the whole model — every step uses the mean loss over all N
  demos, so in exact arithmetic it ignores their order (S1 consequence (a));
- ``gd-mid`` / ``gd-deep``: ĜD, the same on W_V of one middle layer ⌊L/2⌋ / one deep layer L−1
  (0-based) [choice, SHEN.md];
- ``sgd``: plain SGD with batch size 1, the demos in the given order, whole model;
- ``adam``: Adam with batch size 1, the demos in the given order, whole model [choice: sequential,
  like ``sgd``].

Loss: cross-entropy on the label-word token(s) only, each demo written alone as
``prefix + input + label`` [paper]; per-demo mean over its label tokens, mean over the demos of a
batch. Dropout stays off (``eval()`` mode): the update is deterministic GD, not a noisy one.

The base model is never mutated: one working copy is made per call and its trainable parameters
are restored from the base before each ordering.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F

from .data import Encoded
from .errors import ProbeInputError
from .icl import pad_right
from .loading import final_hidden, head, n_layers, value_parameter

PAPER_LRS = (1e-3, 5e-3, 1e-4, 5e-4)  # Shen et al.'s learning-rate grid [paper]
PAPER_EPOCHS = 200  # [paper]


@dataclass(frozen=True)
class Variant:
    name: str
    params: str  # "all" | "v_proj@mid" (W_V of layer ⌊L/2⌋) | "v_proj@deep" (W_V of layer L−1)
    optimizer: str  # "sgd" (a plain gradient step, no momentum) | "adam"
    batch: str  # "full": one step per epoch on the mean loss | "single": one step per demo, in order
    lr: float  # default learning rate, from the paper's grid [choice]
    description: str = ""

    def parameter_names(self, model) -> Optional[list[str]]:
        """Names of the trainable parameters (None: all of them)."""
        if self.params == "all":
            return None
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
)}


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
    seconds_per_epoch: float = 0.0  # wall time of one epoch of updates (one ordering), averaged


def optimizer(var: Variant, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """A fresh optimizer: plain SGD (no momentum) or Adam (default betas and eps; the fused kernel on
    CPU/CUDA, about twice as fast as the default on a 135M model)."""
    if var.optimizer == "sgd":
        return torch.optim.SGD(params, lr=var.lr)
    fused = params[0].device.type in ("cpu", "cuda") and params[0].dtype in (torch.float32, torch.float64,
                                                                             torch.float16, torch.bfloat16)
    return torch.optim.Adam(params, lr=var.lr, fused=fused or None)


def _batch(model, enc: Encoded, demos: Sequence[int]):
    """Training rows prefix + input + label for ``demos``, and where each label token is predicted."""
    device = next(model.parameters()).device
    seqs, pos, tgt, weight = [], [], [], []
    for r, i in enumerate(demos):
        start = len(enc.prefix) + len(enc.demo_inputs[i])
        lab = enc.demo_labels[i]
        seqs.append(enc.prefix + enc.demo_inputs[i] + lab)
        for j, t in enumerate(lab):
            pos.append((r, start + j - 1))  # the token before label token j predicts it
            tgt.append(t)
            weight.append(1.0 / (len(lab) * len(demos)))
    ids, _ = pad_right(seqs, enc.pad_id, device)
    pos = torch.as_tensor(pos, device=device)
    return ids, pos, torch.as_tensor(tgt, device=device), torch.as_tensor(weight, device=device)


def label_loss(model, batch) -> torch.Tensor:
    """Mean over demos of the mean cross-entropy of their label tokens."""
    ids, pos, tgt, weight = batch
    h, _ = final_hidden(model, ids)  # (B, T, H)
    logits = head(model, h[pos[:, 0], pos[:, 1]]).float()  # (M, V)
    return (F.cross_entropy(logits, tgt, reduction="none") * weight).sum()


@torch.no_grad()
def next_token_distributions(model, enc: Encoded) -> torch.Tensor:
    """M_Θ(x_t) for every test input, no demonstrations: (I, V) float32 probabilities."""
    device = next(model.parameters()).device
    ids, lengths = pad_right([enc.prefix + q for q in enc.queries], enc.pad_id, device)
    h, _ = final_hidden(model, ids)  # (I, T, H)
    last = h[torch.arange(len(lengths), device=device), lengths - 1]  # (I, H)
    return torch.softmax(head(model, last).float(), dim=-1).cpu()


def finetune_distributions(
    model, enc: Encoded, orders: Sequence[Sequence[int]], var: Variant, *, epochs: int,
    eval_every: int = 0, reference: Optional[torch.Tensor] = None, k: int = 10,
    progress: Optional[Callable[[int], None]] = None,
) -> FineTuneResult:
    """Run ``var`` from the base weights once per ordering and read p_A on the test inputs.

    ``eval_every`` > 0 also reads the label-word probabilities (and, given ``reference`` (O, I, V),
    the Token Overlap@``k`` with it) at epoch 0 (the base model) and every that many epochs, for the
    training-trajectory curves.
    ``progress`` is called with 1 after each epoch of each ordering.
    """
    from .metrics import token_overlap

    if epochs < 1:
        raise ProbeInputError("epochs", f"must be >= 1, got {epochs}")
    if var.optimizer not in ("sgd", "adam") or var.batch not in ("full", "single"):
        raise ProbeInputError("variants", f"{var.name}: unknown optimizer/batch {var.optimizer}/{var.batch}")
    names = var.parameter_names(model)
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
    eval_epochs = [e for e in range(epochs + 1) if eval_every and (e % eval_every == 0 or e == epochs)]
    O = len(orders)
    probs, lab_tr, ov_tr, losses, times = [], [], [], torch.zeros(O, epochs), []
    for oi, order in enumerate(orders):
        with torch.no_grad():
            for n in names:
                work.get_parameter(n).copy_(base[n])
        opt = optimizer(var, trainable)
        steps = [list(order)] if var.batch == "full" else [[i] for i in order]
        batches = [_batch(work, enc, s) for s in steps]
        lab_o, ov_o = [], []
        for e in range(epochs + 1):
            if e > 0:
                t0 = time.perf_counter()
                for b in batches:
                    opt.zero_grad(set_to_none=True)
                    loss = label_loss(work, b)
                    loss.backward()
                    opt.step()
                    losses[oi, e - 1] += float(loss.detach()) / len(batches)
                times.append(time.perf_counter() - t0)
                if progress is not None:
                    progress(1)
            if e in eval_epochs or e == epochs:
                p = next_token_distributions(work, enc)  # (I, V)
            if e in eval_epochs:
                lab_o.append(p[:, labels])
                if reference is not None:
                    ov_o.append(token_overlap(reference[oi], p, k=k))
        probs.append(p)
        if eval_epochs:
            lab_tr.append(torch.stack(lab_o))
            if ov_o:
                ov_tr.append(torch.stack(ov_o))
    del work
    return FineTuneResult(
        variant=var, epochs=epochs, probs=torch.stack(probs), eval_epochs=eval_epochs,
        label_probs=torch.stack(lab_tr, dim=1) if lab_tr else None,
        overlap=torch.stack(ov_tr, dim=1) if ov_tr else None,
        losses=losses, seconds_per_epoch=sum(times) / len(times),
    )

