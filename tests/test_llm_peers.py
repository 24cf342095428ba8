"""The peers' metrics (Dai et al. 2023: SimAOU, SimAM, Rec2FTP; Deutch et al. 2024: SimAM_Δ), the
layer-causal and K/V-only variants, the nulls and the fine-tuning rules — pinned by hand computations
on TINY RANDOM models (plumbing: no claim marker, never claim evidence).
"""
import math
from unittest import mock

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
import torch

from iclgd.empirics.llm import batched as B
from iclgd.empirics.llm import finetune as F
from iclgd.empirics.llm import icl as I
from iclgd.empirics.llm import peers as P
from iclgd.empirics.llm.errors import ProbeInputError
from iclgd.empirics.llm.probe import measure, untrained_copy
from iclgd.properties.llm import beats, peer_and_null_summary
from tests.test_llm_plumbing import random_encoded, tiny_llama

pytestmark = pytest.mark.llm


def _eager(model):
    model.config._attn_implementation = "eager"  # so the model itself returns its attention weights
    return model


def _hand_internals(model, ids: torch.Tensor, last: int, qstart: int):
    """Per layer, from the model's own eager attention weights a (heads, T, T) and value projections:
    the attention output at ``last`` = o_proj(Σ_j a_j v_j) and log a over the query keys [qstart, last]."""
    cap = {}
    hooks = [l.self_attn.v_proj.register_forward_hook(lambda m, a, o, i=i: cap.__setitem__(i, o))
             for i, l in enumerate(model.model.layers)]
    try:
        out = model.model(input_ids=ids, output_attentions=True)
    finally:
        for h in hooks:
            h.remove()
    res = []
    for i, (layer, att) in enumerate(zip(model.model.layers, out.attentions)):
        a = att[0, :, last].double()  # (heads, T)
        heads, d = a.shape[0], layer.self_attn.head_dim
        v = cap[i][0].double().view(ids.shape[1], -1, d)  # (T, kv, d)
        v = v.repeat_interleave(heads // v.shape[1], dim=1)  # (T, heads, d)
        mix = torch.einsum("ht,thd->hd", a, v).reshape(-1)  # (heads·d,)
        o = mix @ layer.self_attn.o_proj.weight.double().T
        res.append((o, a[:, qstart:last + 1].log()))
    return res


def test_recorder_matches_a_hand_computation_from_the_models_attention_weights():
    """Cached ICL rows and zero-shot rows: the recorded attention output equals o_proj(attention·V) and the
    recorded scores equal log(attention weight) up to one constant per head (softmax is shift invariant),
    read from the model's own eager attention."""
    model = _eager(tiny_llama(seed=3))
    enc = random_encoded(0, shots=3, queries=3)
    orders = [[0, 1, 2], [2, 0, 1]]
    assert len({len(q) for q in enc.queries}) == 3  # length-sorted chunks mix orderings: rows must come back in place
    with P.Recorder(model) as rec:
        I.icl_distributions(model, enc, orders, recorder=rec)
    got = rec.result()  # rows ordering-major
    _, zs = F.next_token_distributions(model, enc, internals=True)
    Q = max(len(q) for q in enc.queries)
    assert got["scores"].shape == (6, 3, 4, Q) and got["attn_out"].shape == (6, 3, 32)
    for row, (o, q) in enumerate([(o, q) for o in range(2) for q in range(3)]):
        prompt = I.prompt_ids(enc, orders[o], q)
        n = len(enc.queries[q])
        hand = _hand_internals(model, torch.tensor([prompt]), len(prompt) - 1, len(prompt) - n)
        zhand = _hand_internals(model, torch.tensor([enc.prefix + enc.queries[q]]), len(enc.prefix) + n - 1,
                                len(enc.prefix))
        for layer, ((ho, hs), (zo, zsc)) in enumerate(zip(hand, zhand)):
            torch.testing.assert_close(got["attn_out"][row, layer].double(), ho, rtol=1e-4, atol=1e-5)
            s = got["scores"][row, layer, :, :n].double() - hs  # (heads, n): constant along the keys
            torch.testing.assert_close(s - s[:, :1], torch.zeros_like(s), rtol=0, atol=1e-4)
            assert torch.all(got["scores"][row, layer, :, n:] == 0)  # padding is 0, as in the peers' scripts
            if o == 0:
                torch.testing.assert_close(zs["attn_out"][q, layer].double(), zo, rtol=1e-4, atol=1e-5)
                z = zs["scores"][q, layer, :, :n].double() - zsc
                torch.testing.assert_close(z - z[:, :1], torch.zeros_like(z), rtol=0, atol=1e-4)


def test_metrics_by_hand():
    # SimAOU: unit-normalise, subtract zero-shot, cosine. One layer, H = 2.
    zs, icl, ft = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 3.0]]), torch.tensor([[1.0, 1.0]])
    u_icl = np.array([0.0, 1.0]) - [1.0, 0.0]
    u_ft = np.array([1.0, 1.0]) / math.sqrt(2) - [1.0, 0.0]
    expect = u_icl @ u_ft / (np.linalg.norm(u_icl) * np.linalg.norm(u_ft))
    assert P.sim_aou(icl, ft, zs).item() == pytest.approx(expect, rel=1e-12)
    assert P.sim_aou(zs, ft, zs).item() == 0.0  # no update: a zero vector's cosine is 0
    # SimAM: cosine of raw scores over the query keys, mean over heads; SimAM_Δ on changes from zero-shot.
    a = torch.tensor([[[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]]])  # (L=1, heads=2, Q=3)
    b = torch.tensor([[[2.0, 4.0, 0.0], [1.0, 0.0, 0.0]]])
    z = torch.tensor([[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])
    assert P.sim_am(a, b).item() == pytest.approx((1.0 + 0.0) / 2)
    d1 = (np.array([0, 1, 0]) @ np.array([1, 3, 0])) / (1 * math.sqrt(10))  # head 0: (a−z)·(b−z)
    d2 = (np.array([0, 1, 0]) @ np.array([1, 0, -1])) / (1 * math.sqrt(2))  # head 1
    assert P.sim_am_delta(a, b, z).item() == pytest.approx((d1 + d2) / 2)
    # Rec2FTP: of the predictions FT turns wrong → right (1, 2), ICL also gets right 1 of 2.
    icl_ok = torch.tensor([True, True, False, True])
    ft_ok = torch.tensor([False, True, True, True])
    zs_ok = torch.tensor([False, False, False, True])
    assert P.rec2ftp(icl_ok, ft_ok, zs_ok) == 0.5
    assert P.rec2ftp(icl_ok, zs_ok, zs_ok) is None  # FT fixed nothing: undefined


def test_layer_causal_loss_by_hand():
    """lc-gd's loss = mean over layers of the label loss read out from each layer's output (final norm +
    head); each layer learns only from its own read-out: its gradient does not depend on later layers."""
    model = tiny_llama(seed=5)
    enc = random_encoded(6, shots=3, queries=1)
    batch = F._batch(model, enc, [0, 1, 2])
    ids, pos, tgt, weight = batch
    out = model.model(input_ids=ids, output_hidden_states=True)
    hs = out.hidden_states[1:-1] + (None,)  # outputs of layers 0..L−2; the last one is read before the norm below
    per_layer = []
    hooks_out = []
    h = [l.register_forward_hook(lambda m, a, o: hooks_out.append(o)) for l in model.model.layers]
    model.model(input_ids=ids)
    for x in h:
        x.remove()
    for o in hooks_out:
        logits = model.lm_head(model.model.norm(o[pos[:, 0], pos[:, 1]])).double()
        per_layer.append((torch.nn.functional.cross_entropy(logits, tgt, reduction="none") * weight).sum())
    got = F.layer_causal_loss(model, batch)
    torch.testing.assert_close(got.double(), torch.stack(per_layer).mean(), rtol=1e-5, atol=0)
    assert hs[0] is not None
    # detached inputs: layer 0's W_K gets gradient only from loss_0
    work = tiny_llama(seed=5)
    w = work.model.layers[0].self_attn.k_proj.weight.requires_grad_(True)
    F.layer_causal_loss(work, batch).backward()
    g_all = w.grad.clone()
    w.grad = None
    hk = work.model.layers[0].register_forward_hook(lambda m, a, o: hooks_out.__setitem__(0, o))
    hooks_out.clear()
    hooks_out.append(None)
    work.model(input_ids=ids)
    hk.remove()
    o0 = hooks_out[0]
    logits = work.lm_head(work.model.norm(o0[pos[:, 0], pos[:, 1]])).float()
    ((torch.nn.functional.cross_entropy(logits, tgt, reduction="none") * weight).sum() / len(work.model.layers)).backward()
    torch.testing.assert_close(g_all, w.grad, rtol=1e-4, atol=1e-7)


def test_kv_variants_train_only_keys_and_values():
    model = tiny_llama(seed=1)
    names = F.variant("kv-sgd").parameter_names(model)
    assert len(names) == 2 * 3 and all(n.endswith(("k_proj.weight", "v_proj.weight")) for n in names)
    enc = random_encoded(2, 3, 2)
    r = F.finetune_distributions(model, enc, [[0, 1, 2]], F.variant("lc-gd", lr=0.05), epochs=2, null_seed=7)
    assert r.demo_loss.shape == (1, 3) and r.update_norm[0] > 0
    assert r.random_update.shape == r.probs.shape and not torch.equal(r.random_update, r.probs)


def test_random_update_has_the_trained_updates_norm():
    model = tiny_llama(seed=2)
    enc = random_encoded(3, 3, 2)
    var = F.variant("gd-deep", lr=0.2)
    work = F.finetune_distributions(model, enc, [[0, 1, 2]], var, epochs=2, null_seed=11)
    name = var.parameter_names(model)[0]
    # rebuild the null by hand: base + r ‖Δ‖/‖r‖ with r drawn (in the parameter's dtype) from the same seeded generator
    g = torch.Generator().manual_seed(11)
    r = torch.randn(model.get_parameter(name).shape, generator=g, dtype=model.get_parameter(name).dtype)
    copy = __import__("copy").deepcopy(model)
    base = model.get_parameter(name)
    with torch.no_grad():
        copy.get_parameter(name).copy_(base + (work.update_norm[0].item() / r.double().norm().item()) * r)
    torch.testing.assert_close(work.random_update[0], F.next_token_distributions(copy, enc), rtol=0, atol=1e-6)


def test_full_batch_demo_loss_is_the_loss_after_each_epoch():
    """gd reads its demo loss from the next step's forward: it must equal the demo loss of weights
    trained by hand with the same steps (plain SGD on the mean label loss of all demos)."""
    model = tiny_llama(seed=3)
    enc = random_encoded(5, 3, 2)
    r = F.finetune_distributions(model, enc, [[0, 1, 2], [2, 0, 1]], F.variant("gd", lr=0.3), epochs=3)
    work = __import__("copy").deepcopy(model).requires_grad_(True)
    opt = torch.optim.SGD(work.parameters(), lr=0.3)
    by_hand = [F.demo_loss(work, enc)]
    for _ in range(3):
        opt.zero_grad()
        F.label_loss(work, F._batch(work, enc, [0, 1, 2])).backward()
        opt.step()
        by_hand.append(F.demo_loss(work, enc))
    assert by_hand[-1] < by_hand[0] - 0.1  # it trained
    # identity order: the same batch, so equal to float32 rounding; another order: the same loss re-summed
    torch.testing.assert_close(r.demo_loss, torch.tensor([by_hand, by_hand], dtype=torch.float64), rtol=1e-5, atol=0)


def test_convergence_rule_and_lr_selection():
    """The first ordering trains until its demo loss stops improving (PATIENCE epochs without a decrease
    of MIN_DELTA × the initial loss, or below LOSS_FLOOR); every ordering then runs as many epochs. The
    learning rate is the grid's with the lowest converged demo loss."""
    model = tiny_llama(seed=4)
    enc = random_encoded(8, 3, 2)
    r = F.finetune_distributions(model, enc, [[0, 1, 2], [2, 1, 0]], F.variant("gd", lr=0.5), epochs=60,
                                 until_converged=True)
    dl = r.demo_loss[0]
    assert r.demo_loss.shape == (2, r.epochs + 1) and r.converged and r.epochs < 60
    assert dl[-1] < F.LOSS_FLOOR or all(dl[-1 - j] >= dl[: -1 - j].min() - F.MIN_DELTA * dl[0]
                                        for j in range(F.PATIENCE))
    assert r.loss_drop["moved"] and r.loss_drop["initial"] == pytest.approx(dl[0].item())
    best, losses = F.select_lr(model, enc, F.variant("gd"), (1e-4, 0.5), epochs=30)
    assert set(losses) == {1e-4, 0.5} and best.lr == min(losses, key=losses.get)
    with pytest.raises(ProbeInputError, match="lr_grid"):
        F.select_lr(model, enc, F.variant("gd"), (1e-3, -1.0), epochs=2)
    tiny = F.finetune_distributions(model, enc, [[0, 1, 2]], F.variant("gd-deep", lr=1e-6), epochs=1)
    assert not tiny.loss_drop["moved"]  # 1e-6 for one epoch: the demo loss did not move


def test_beats_is_a_one_sided_sign_test_and_says_when_it_cannot_decide():
    v = np.linspace(1, 2, 30)
    b = beats(v, v - 0.5, alpha=1e-6)
    assert b["beats"] is True and b["ratio"] == pytest.approx(v.mean() / (v.mean() - 0.5))
    assert beats(v, v + 0.5, alpha=1e-6)["beats"] is False
    small = beats(v[:5], v[:5] - 1, alpha=1e-6)
    assert small["beats"] is None and "cannot reach" in small["reason"]


def test_summary_reports_every_metric_beside_its_nulls_on_a_tiny_model():
    """End to end on a tiny model: internals, the random-update and untrained nulls, flags."""
    model = tiny_llama(seed=6)
    enc = random_encoded(9, 3, 3)
    perms = [(0, 1, 2), (2, 0, 1)]
    vs = [F.variant("kv-sgd", lr=0.05), F.variant("gd-deep", lr=0.2)]
    m = measure(model, enc, perms, vs, epochs=1, internals=True, null_seed=0)
    from iclgd.empirics.llm.probe import ProbeOutputs

    out = ProbeOutputs("tiny", None, enc, perms, m["icl"], m["zero_shot"], m["variants"], internals=m["internals"])
    fresh = untrained_copy(model, 1)
    assert not torch.equal(fresh.model.layers[0].self_attn.k_proj.weight, model.model.layers[0].self_attn.k_proj.weight)
    out.nulls["untrained"] = measure(fresh, enc, perms, vs, epochs=1, internals=True)
    s = peer_and_null_summary(out, k=5, seed=0, n_boot=50, level=0.9)
    for name in ("kv-sgd", "gd-deep"):
        rows = s["variants"][name]
        assert set(rows) == {"sim_aou", "sim_am", "sim_am_delta", "rec2ftp", "token_overlap", "overlap_cosine"}
        assert len(rows["sim_am"]["per_layer"]["value"]) == 3
        assert {"random_update", "untrained", "icl_reordered"} <= set(rows["sim_aou"]["nulls"])
        assert rows["sim_aou"]["nulls"]["untrained"]["beats"] is None  # 3 inputs: cannot decide, says so
    assert isinstance(s["flags"], list)


def test_random_labels_reuse_the_zero_shot_outputs_they_would_measure_again():
    """collect()'s random-labels null passes the real zero-shot outputs to measure(): relabelling changes the
    demos only, so zero-shot outputs and internals measured again on the relabelled task are identical."""
    import dataclasses

    model = tiny_llama(seed=7)
    enc = random_encoded(10, 3, 3)
    perms, vs = [(0, 1, 2), (1, 2, 0)], [F.variant("gd-deep", lr=0.2)]
    m = measure(model, enc, perms, vs, epochs=1, internals=True)
    relabel = dataclasses.replace(enc, demo_labels=tuple(reversed(enc.demo_labels)))
    again = measure(model, relabel, perms, vs, epochs=1, internals=True)
    reused = measure(model, relabel, perms, vs, epochs=1, internals=True,
                     zero_shot=(m["zero_shot"], m["internals"]["zero_shot"]))
    assert torch.equal(again["zero_shot"], reused["zero_shot"])
    assert all(torch.equal(t, reused["internals"]["zero_shot"][k]) for k, t in again["internals"]["zero_shot"].items())
    assert torch.equal(again["variants"]["gd-deep"].probs, reused["variants"]["gd-deep"].probs)
    assert not torch.equal(again["icl"], m["icl"])  # the relabelled demos do change ICL


# ---- data: every StaICC dataset, local files, bad input --------------------------------------------
def test_local_csv_and_jsonl_files(tmp_path):
    from iclgd.empirics.llm import data as D

    csv = tmp_path / "d.csv"
    csv.write_text("text,label\n" + "".join(f"row {i},{'yes' if i % 2 else 'no'}\n" for i in range(12)))
    s = D.spec(str(csv))
    assert s.label_words == (" no", " yes") and s.template == D.LOCAL_TEMPLATE
    t = D.sample_task(s, 2, 3, seed=0)
    assert {y for _, y in t.demos + t.tests} <= {0, 1} and all(x.startswith("row") for x, _ in t.demos)
    js = tmp_path / "d.jsonl"
    js.write_text("".join(f'{{"text": "t{i}", "label": {i % 3}}}\n' for i in range(9)))
    s = D.spec(str(js)).with_overrides([" a", " b", " c"])
    assert s.label_words == (" a", " b", " c") and len(D.load_table(s.file)) == 9
    with pytest.raises(ProbeInputError, match="shots"):
        D.sample_task(s, 8, 2, seed=0)  # 10 rows needed, 9 there: an N larger than the dataset allows
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence,y\nhello,1\n")
    with pytest.raises(ProbeInputError, match="lacks the 'text' and 'label' columns"):
        D.spec(str(bad))
    with pytest.raises(ProbeInputError, match="does not exist"):
        D.spec(str(tmp_path / "none.jsonl"))
    assert len(D.DATASETS) == 10  # every dataset StaICC ships


def test_cli_protocol_end_to_end_on_a_local_checkpoint(tmp_path, capsys):
    """`iclgd probe --protocol shen` on a tiny checkpoint (plumbing): every cell carries the label-loss
    drop, order sensitivity, Shen's and the peers' metrics and their nulls; S2 aggregated; plot written."""
    import json

    from iclgd.cli import main
    from tests.test_llm_plumbing import tiny_checkpoint

    ckpt = tiny_checkpoint(tmp_path / "tiny")
    png = tmp_path / "traj.png"
    rc = main(["probe", "--protocol", "shen", "--model", str(ckpt), "--datasets", "sst2", "--shots-grid", "2,3",
               "--orders", "2", "--test-inputs", "3", "--variants", "gd-deep", "--epochs", "2", "--lr-grid", "0.1,0.5",
               "--n-boot", "100", "--nulls", "random-update,fp,random-labels,untrained", "--json", "--plot", str(png)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["eval_every"] == 2  # --plot reads the trajectory the CPU default leaves out
    assert any(tr["epochs"] for c in out["cells"] for tr in c["trajectory"].values())
    assert [(c["dataset"], c["shots"], c["orders"]) for c in out["cells"]] == [("sst2", 2, 2), ("sst2", 3, 2)]
    cell = out["cells"][1]
    f = cell["fine_tuning"]["gd-deep"]
    assert {"initial", "final", "drop", "moved", "epochs", "lr"} <= set(f) and f["lr"] in (0.1, 0.5)
    m = cell["metrics"]["variants"]["gd-deep"]
    assert {"sim_aou", "sim_am", "sim_am_delta", "rec2ftp", "token_overlap", "overlap_cosine"} == set(m)
    assert {"random_update", "untrained", "random_labels", "icl_reordered"} <= set(m["sim_am"]["nulls"])
    assert {"fp_batch", "fp_uncached"} <= set(cell["metrics"]["order_sensitivity"])
    assert out["s2"]["verdict"] == "inconclusive"  # 3 test inputs: too few, and it says so
    assert all(r["verdict"] == "inconclusive" for c in out["cells"] for r in c["s2"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from iclgd.properties.llm import ProtocolConfig

    cpu = ProtocolConfig.default("cpu")  # the nulls no verdict reads are flags on CPU, all four on CUDA
    assert (cpu.test_inputs, cpu.nulls, cpu.eval_every) == (64, ("random-update", "random-labels"), 0)
    for bad, flag in ((["--variants", "newton"], "--variants"), (["--nulls", "zero"], "--nulls"),
                      (["--lr-grid", "0.1,-1"], "--lr-grid"), (["--datasets", "imdb"], "--dataset"),
                      (["--shots-grid", "2,x"], "--shots-grid"), (["--shots-grid", "1,2"], "--shots-grid")):
        assert main(["probe", "--protocol", "shen", "--model", str(ckpt), *bad]) == 2
        assert flag in capsys.readouterr().err.strip().splitlines()[-1]


@settings(max_examples=6, deadline=None)
@example(seed=1, name="kv-sgd", shots=3, internals=False)  # no frozen prefix, no recorder: the plain chunked read
@given(seed=st.integers(0, 2**32 - 1), name=st.sampled_from(["gd-mid", "gd-deep", "kv-sgd", "lc-gd"]),
       shots=st.integers(2, 4), internals=st.booleans())
def test_orderings_side_by_side_equal_one_at_a_time(seed, name, shots, internals):
    """The batched path (every ordering in one forward, per-ordering weights, the frozen prefix below ĜD's
    layer computed once) returns what one ordering at a time returns, field by field: outputs, demo and
    step losses, trajectory, internals, the random-update null and its norm. Float64, so the only
    difference is the order of the sums (tolerance 1e-9 relative)."""
    model = tiny_llama(seed % 11, dtype=torch.float64)
    enc = random_encoded(seed % 13, shots, 3)
    orders = [list(range(shots)), list(reversed(range(shots))), [shots - 1] + list(range(shots - 1))]
    ref = I.icl_distributions(model, enc, orders).double()
    kw = dict(epochs=6, eval_every=2, reference=ref, until_converged=True, internals=internals, null_seed=seed % 97)
    var = F.variant(name, lr=0.2)
    one = F.finetune_distributions(model, enc, orders, var, batched=False, **kw)
    with mock.patch.object(B, "Trainer", wraps=B.Trainer) as trainer:
        side = F.finetune_distributions(model, enc, orders, var, **kw)
    assert trainer.call_count == 1  # the default path is the batched one
    assert side.epochs == one.epochs and side.eval_epochs == one.eval_epochs and side.converged == one.converged
    close = dict(rtol=1e-9, atol=1e-12)
    for field in ("probs", "label_probs", "overlap", "random_update", "update_norm"):
        torch.testing.assert_close(getattr(side, field).double(), getattr(one, field).double(), **close, msg=field)
    # the label loss's logits are cast to float32 before the cross-entropy (both paths): a few float32 ulps
    for field in ("demo_loss", "losses"):
        torch.testing.assert_close(getattr(side, field).double(), getattr(one, field).double(), rtol=1e-6, atol=0,
                                   msg=field)
    for key in one.internals or {}:
        torch.testing.assert_close(side.internals[key].double(), one.internals[key].double(), **close)
        torch.testing.assert_close(side.random_update_internals[key].double(),
                                   one.random_update_internals[key].double(), **close)
    assert (one.probs[0] - F.next_token_distributions(model, enc)).abs().max() > 1e-3  # it trained
