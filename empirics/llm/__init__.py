"""Probes of ICL vs gradient descent on real pretrained language models (Shen, Mishra, Khashabi 2024).

- :mod:`.loading` — SmolLM2-135M (GGUF, de-quantized) by default, or any local causal LM, offline;
- :mod:`.data` — StaICC datasets (SST-2, AGNews, TREC, SUBJ), templates, label words, orderings;
- :mod:`.icl` — p_ICL for every ordering and test input, batched, with a shared-prefix KV cache;
- :mod:`.finetune` — GD, ĜD (W_V of a middle / deep layer), SGD and Adam on the demonstrations;
- :mod:`.metrics` — accuracy, Token Overlap@k, Overlap Cosine (union / intersection);
- :mod:`.sparsity` — sparsity profile of W_Q, W_K, W_V per layer;
- :mod:`.probe` — one run: ICL and every variant on one demo set under O orderings.

Measurements only: the claims they are compared with live in :mod:`iclgd.properties.llm`.
"""
import importlib

# Imported on first use (PEP 562), so that importing a torch-free submodule (:mod:`.defaults`, the CLI's
# help) does not load torch and transformers.
_EXPORTS = {
    ".data": ("DATASETS", "DatasetSpec", "Encoded", "Task", "Template", "draw_orderings", "encode", "sample_task",
              "spec"),
    ".errors": ("ProbeInputError",),
    ".finetune": ("PAPER_LRS", "VARIANTS", "FineTuneResult", "Variant", "finetune_distributions", "variant"),
    ".defaults": ("PAPER_EPOCHS",),
    ".icl": ("icl_distributions",),
    ".loading": ("DEFAULT_MODEL", "LoadedModel", "load_model"),
    ".probe": ("ProbeOutputs", "collect"),
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
