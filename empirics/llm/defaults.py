"""The probes' defaults that the CLI's help shows: plain values, no torch (``iclgd --help`` stays fast)."""
PAPER_EPOCHS = 200  # Shen et al.'s training length [paper]
CPU_EPOCHS = 5  # scaled-down default on CPU; the paper's 200 on CUDA
DEFAULT_VARIANTS = ("gd", "gd-mid", "gd-deep", "sgd", "adam")  # `iclgd probe`'s variants without --variants
