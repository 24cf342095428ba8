"""Fu-trained-Newton (Fu, Chen, Jia & Sharan, NeurIPS 2024, §4): the per-layer read-outs of trained L-layer linear
transformers against Newton's and GD's k-step predictors (properties/papers/fu_et_al.py). Known-answer tests first:
layers that *are* Newton's iterates must read `held`, GD's iterates must read `refuted`, a stall must not read
`held` — the verdict logic has the power it claims before any model is trained. They are plumbing: their checks go
to a scratch recording and they speak for no claim (synthetic layers are no evidence about trained transformers).
Then trained models (slow): reachability under M1-trained, and no `refuted` under Fu-trained-Newton."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from iclgd.empirics.sampling import generator
from iclgd.empirics.models import LinearTransformer
from iclgd.empirics.train import Schedule, sampled_loss
from iclgd.properties.checks import recording, refutations
from iclgd.properties.papers.fu_et_al import (FU_SCHEDULE_L2, IMITATION_OK, Z_DECIDE, ImitationLaw, LayerReadouts,
                                              RotatedLaw, fu_trained_run, fu_verdicts, layer_predictions,
                                              layer_step_evidence, synthetic_layers, train_control)
from iclgd.properties.profile import scale
from iclgd.properties.strategies import seeds
from iclgd.properties.verdicts import HELD, INCONCLUSIVE, REFUTED
from iclgd.theory import Setting

pytestmark = pytest.mark.slow
PROMPTS = 8192  # per prompt set (half selects k, half measures): 2048 left adjacent Newton k at z ≈ 2.7 (undecided)


def _prompts(seed: int, d: int = 2, n: int = 6, kappa: float = 10.0):
    out = []
    for j in range(2):  # evidence and confirmation sets
        X, y = RotatedLaw(d, n, kappa)(PROMPTS, generator(seed + j))
        out.append((X[0].double().numpy(), y[0].double().numpy()))
    return out


def _controls(X, y, L: int, newton_reads_as_newton: bool = True) -> dict:
    """Controls with known answers: layers that are Newton's iterates 1..L and GD's 2^ℓ-step iterates (a positive
    control that fails: GD's iterates in its place)."""
    ev = lambda ks, newton: layer_step_evidence(synthetic_layers(X, y, ks, newton), X, y)  # noqa: E731
    gd = ev([2 ** (l + 1) for l in range(L)], False)
    return {"newton": ev(list(range(1, L + 1)), True) if newton_reads_as_newton else gd, "gd": gd}


def _verdicts(ks, newton: bool, seed: int, controls: str = "pass", **kw):
    """The verdict logic on synthetic layers (Newton's or GD's iterates ``ks``) with controls that pass, whose
    positive control fails ("fail") or none ("none"), its checks kept out of the report."""
    (X, y), (Xc, yc) = _prompts(seed)
    ev = layer_step_evidence(synthetic_layers(X, y, ks, newton), X, y, **kw)
    cf = layer_step_evidence(synthetic_layers(Xc, yc, ks, newton), Xc, yc, **kw)
    ctl = None if controls == "none" else _controls(X, y, len(ks), controls == "pass")
    with recording():
        return ev, fu_verdicts(ev, cf, {"ks": list(ks), "newton": newton, "seed": seed}, controls=ctl)


@settings(max_examples=max(2, scale().max_examples // 25), deadline=None)
@given(seed=seeds(), k0=st.integers(0, 2), step=st.integers(1, 2), L=st.integers(2, 3))
def test_layers_that_are_newton_iterates_read_held(seed, k0, step, L):
    """Layer ℓ = Newton's k₀ + step·ℓ iterate (linear growth, one or two steps per layer); checks at layers ≥ 2
    (Newton closer each, growth from L = 3)."""
    ks = [k0 + step * l for l in range(L)]
    ev, checks = _verdicts(ks, True, seed)
    assert ev["k_newton"].tolist() == [ks], ev["k_newton"]
    assert [c.verdict for c in checks] == [HELD] * (L - 1 + (L >= 3)), [c.summary() for c in checks]


@settings(max_examples=max(2, scale().max_examples // 25), deadline=None)
@given(seed=seeds(), L=st.integers(2, 3))
def test_layers_that_are_gd_iterates_read_refuted(seed, L):
    """Mutation: the layers run GD with 2^ℓ steps (the picture Fu et al. argue against): Newton-closer is refuted."""
    ev, checks = _verdicts([2 ** (l + 1) for l in range(L)], False, seed)  # checked at layers ≥ 2
    assert any(c.verdict == REFUTED and "Newton closer" in c.quantity for c in checks), [c.summary() for c in checks]


@settings(max_examples=max(2, scale().max_examples // 25), deadline=None)
@given(seed=seeds())
def test_mislabelled_or_shifted_iterates_do_not_read_held(seed):
    """Mutations: GD's iterates labelled Newton's (then "Newton" cannot beat GD), growth then a stall (not
    held), the same Newton step at every layer (refuted)."""
    _, checks = _verdicts([1, 2, 3], True, seed, gd_as_newton=True)
    assert not any(c.verdict == HELD and "Newton closer" in c.quantity for c in checks), [c.summary() for c in checks]
    _, checks = _verdicts([0, 1, 2, 2], True, seed)
    grows = [c for c in checks if "every layer" in c.quantity]
    assert [c.verdict for c in grows] == [INCONCLUSIVE], [c.summary() for c in grows]
    _, checks = _verdicts([1, 1, 1], True, seed)  # no growth at all: refuted
    grows = [c for c in checks if "every layer" in c.quantity]
    assert [c.verdict for c in grows] == [REFUTED], [c.summary() for c in grows]


@settings(max_examples=max(2, scale().max_examples // 25), deadline=None)
@given(seed=seeds(), L=st.integers(2, 3))
def test_no_decision_without_controls_that_tell_the_algorithms_apart(seed, L):
    """Layers that are GD's iterates read `refuted` only while a control trained to be Newton's iterates reads Newton
    closer: with a positive control that reads GD closer (what 2-layer models trained to be Newton's 1-step iterate
    do, bench/explore_fu_training.py) or no controls at all, nothing is decided; Newton's iterates likewise."""
    ks = [2 ** (l + 1) for l in range(L)]
    for controls in ("fail", "none"):
        _, checks = _verdicts(ks, False, seed, controls=controls)
        assert not [c for c in checks if c.verdict == REFUTED], [c.summary() for c in checks]
        assert any(c.verdict == INCONCLUSIVE and "control" in c.inconclusive for c in checks), [c.summary() for c in checks]
    _, checks = _verdicts([1 + l for l in range(L)], True, seed, controls="none")
    assert [c.verdict for c in checks] == [INCONCLUSIVE] * len(checks), [c.summary() for c in checks]


@settings(max_examples=max(2, scale().max_examples // 25), deadline=None)
@given(seed=seeds(), c=st.sampled_from([0.5, 1.0]), R=st.integers(1, 3))
def test_imitation_labels_and_the_per_layer_loss(seed, c, R):
    """The controls' law and loss against closed forms: Newton's 0-step label is x_qᵀ(c/λ_max²)S g and GD's 1-step
    label x_qᵀ(c/λ_max)g (S = XᵀX/n, g = Xᵀy/n over the context); the copies share their prompts; the sampled loss
    through LayerReadouts is the mean over read layers of each layer's squared error to its own label
    (float64: 1e-10 relative). A control trained one step is no control (its imitation error is far above 5 %)."""
    gen = generator(seed, None)
    X, y = ImitationLaw(True, [(0, c)], 2, 6, 10.0, R, dtype=torch.float64)(64, gen)  # (R, 64, 7, 2)
    ctx, yc, xq = X[..., :6, :], y[..., :6], X[..., 6, :]
    S = ctx.mT @ ctx / 6  # (R, B, d, d)
    g = (ctx * yc.unsqueeze(-1)).sum(-2) / 6  # (R, B, d)
    lmax = torch.linalg.eigvalsh(S)[..., -1]  # (R, B)
    newton0 = (xq * (S @ g.unsqueeze(-1)).squeeze(-1)).sum(-1) * c / lmax**2
    gd1 = (xq * g).sum(-1) * c / lmax
    torch.testing.assert_close(y[..., 6], newton0, rtol=1e-10, atol=1e-12)
    gd = ImitationLaw(False, [(1, c)], 2, 6, 10.0, dtype=torch.float64)
    torch.testing.assert_close(gd.labels(X, y)[0], gd1, rtol=1e-10, atol=1e-12)
    law = ImitationLaw(False, [(1, c), (3, c)], 2, 6, 10.0, R, dtype=torch.float64)
    X2, y2 = law(32, gen)  # (R, 64, 7, 2): two copies of 32 prompts
    assert torch.equal(X2[:, :32], X2[:, 32:]) and torch.equal(y2[:, :32, :6], y2[:, 32:, :6])
    model = LinearTransformer(2, 3, replicas=R, layout="full", generator=generator(seed + 1), dtype=torch.float64)
    loss = sampled_loss(LayerReadouts(model, (2, 3)), X2, y2)  # (R,)
    yl = layer_predictions(model, X2[0, :32], y2[0, :32])  # (R, 3, 32) layers 1..3, replica 0's prompts
    ref = ((yl[0, 1] - y2[0, :32, 6]).square().mean() + (yl[0, 2] - y2[0, 32:, 6]).square().mean()) / 2
    torch.testing.assert_close(loss[0], ref, rtol=1e-10, atol=1e-12)
    s = Setting(2, 6, 0.0, extra=(("kappa", 10.0), ("layers", 2)))
    held = [tuple(t[0] for t in RotatedLaw(2, 6, 10.0)(256, generator(seed + 2 + j))) for j in range(2)]
    row, _, why = train_control(True, [(1, 1.0)], s, 10.0, 2, Schedule(steps=1, batch=16, batch_start=16), held,
                                replicas=2, seed=seed)
    assert why and row["not_control"] == why and min(map(max, row["imitation_error"])) > IMITATION_OK, row


def _report(summary, checks):
    for m in summary["models"]:
        print(f"L={m['L']} {m['seconds']:.1f}s loss {np.round(m['losses'], 3).tolist()} basin {m['basin']} "
              f"k_N {m['k_newton']} k_G {m['k_gd']} z {np.round(m['newton_better'], 1).tolist()} {m['not_reached']}")
        for name, r in m["controls"].items():
            print(f"  {name} control {r['targets']}: imitation error {np.round(r['imitation_error'], 3).tolist()} "
                  f"basin {r['basin']} k_N {r['k_newton']} k_G {r['k_gd']} z (both sets) "
                  f"{np.round(r['newton_better'], 1).tolist()} {r['not_control']}")
    for c in checks:
        print(" ", c.summary(), f"[{c.inconclusive}]" if c.inconclusive else "")


@pytest.mark.claim("Fu-trained-Newton", "M1-trained")
@settings(max_examples=1, deadline=None)
@given(seed=seeds())
def test_trained_linear_transformers_against_newton_and_gd(seed):
    """L = 1, 2 full-layout models, d = 2, n = 6, κ = 10, under the CPU recipe with which L = 2 reaches
    (FU_SCHEDULE_L2, 3000 steps, 8 replicas: 4 of 5 seeds in bench/explore_fu_training.py; L = 3 reached under no
    CPU recipe tried, so it is not trained here), and for a reached L = 2 model its Newton- and GD-trained controls
    (4 replicas): every check is reach (M1-trained) or Fu-trained-Newton; none refuted; a model that did not reach
    is no evidence; a reached one has both controls, and a Fu-trained-Newton check is decided only with controls
    that trained and read as their algorithms."""
    s = Setting(2, 6, 0.0, extra=(("kappa", 10.0), ("layers", 2)))
    summary, checks = fu_trained_run(s, seed, steps=3000, replicas=8, eval_prompts=PROMPTS, schedule=FU_SCHEDULE_L2,
                                     control_replicas=4)
    _report(summary, checks)
    assert {c.claim for c in checks} == {"Fu-trained-Newton", "M1-trained"}
    assert not [c for c in checks if c.claim == "Fu-trained-Newton" and c.setting["L"] == 1]  # GD's class by construction
    assert not refutations(checks), refutations(checks)
    for m in summary["models"]:
        fu = [c for c in checks if c.claim == "Fu-trained-Newton" and c.setting["L"] == m["L"]]
        if m["not_reached"] or m["L"] == 1:
            assert not m["controls"] and not m["controls_used"], m["controls"]
            assert all(c.verdict == INCONCLUSIVE for c in fu), [c.summary() for c in fu]
            continue
        ctl = m["controls"]
        assert set(ctl) == {"newton", "gd"}, ctl
        for r in ctl.values():  # imitation error per replica and read layer (2..L), then the basin's reads
            assert np.shape(r["imitation_error"]) == (4, m["L"] - 1) and r["basin"], r
            assert (r["not_control"] == "") == (np.max(np.asarray(r["imitation_error"])[r["basin"]]) <= IMITATION_OK)
        assert m["controls_used"] == all(not r["not_control"] for r in ctl.values())
        for c in fu:  # decided only with controls; Newton closer held only where the GD-trained control reads GD
            assert c.verdict == INCONCLUSIVE or m["controls_used"], c.summary()
            if c.verdict == HELD and "Newton closer" in c.quantity:
                z = np.asarray(ctl["gd"]["newton_better"])[..., int(c.quantity.split()[1].rstrip(":")) - 1]  # (2, k)
                assert (z < -Z_DECIDE).all(), (c.summary(), z)


@pytest.mark.gpu
@pytest.mark.claim("Fu-trained-Newton", "M1-trained")
def test_trained_linear_transformers_at_larger_scale(device):
    """d = 4, n = 16, κ = 20, L ≤ 4, 20000 steps on CUDA; tiny (d = 2, n = 4, L = 2, 100 steps) on CPU with
    ICLGD_GPU_ON_CPU=1, where only the plumbing runs. Asserted: no refuted check; a control trains and is read on
    the device (20 steps: plumbing)."""
    tiny = device.type == "cpu"
    s = Setting(2, 4, 0.0, extra=(("kappa", 10.0), ("layers", 2))) if tiny else \
        Setting(4, 16, 0.0, extra=(("kappa", 20.0), ("layers", 4)))
    summary, checks = fu_trained_run(s, 0, steps=100 if tiny else 20000, replicas=4, device=device,
                                     eval_prompts=PROMPTS if tiny else 1 << 14)
    _report(summary, checks)
    assert not refutations(checks), refutations(checks)
    # the control path on this device whether or not a model reached: 2 layers, Newton's 1-step iterate at layer 2
    law = RotatedLaw(s.d, s.n, 10.0, device=device)
    held = [tuple(t[0] for t in law(512, generator(j, device))) for j in range(2)]
    row, ev, _ = train_control(True, [(1, 1.0)], s, 10.0, 2, Schedule(steps=20, batch=64, batch_start=64), held,
                               replicas=2, seed=0, device=device)
    assert np.shape(row["imitation_error"]) == (2, 1) and ev["newton_better"].shape == (2 * len(row["basin"]), 2), row
