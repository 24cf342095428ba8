"""PyTorch measurements: samplers, LSA models, trainers, LLM probes. Never imports `theory`:
measurements take plain arrays and options, so they cannot read the answer."""
