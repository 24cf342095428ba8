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
from .data import DATASETS, DatasetSpec, Encoded, Task, Template, draw_orderings, encode, sample_task, spec
from .errors import ProbeInputError
from .finetune import PAPER_EPOCHS, PAPER_LRS, VARIANTS, FineTuneResult, Variant, finetune_distributions, variant
from .icl import icl_distributions
from .loading import DEFAULT_MODEL, LoadedModel, load_model
from .probe import ProbeOutputs, collect

__all__ = [
    "DATASETS", "DEFAULT_MODEL", "DatasetSpec", "Encoded", "FineTuneResult", "LoadedModel", "PAPER_EPOCHS",
    "PAPER_LRS", "ProbeInputError", "ProbeOutputs", "Task", "Template", "VARIANTS", "Variant", "collect",
    "draw_orderings", "encode", "finetune_distributions", "icl_distributions", "load_model", "sample_task",
    "spec", "variant",
]
