"""Shen, Mishra & Khashabi (ICML 2024), "Position: Do pretrained Transformers Learn In-Context by Gradient
Descent?": S1 (Theorem 1, an implication: kind "identity"; its definitions and symbolic consequences in
:mod:`iclgd.theory.order`), S2 (§5, the empirical ICL-vs-GD agreement pattern) and S3 (§6, sparsity of
pretrained weights against the one-step-GD construction). Their checks: :mod:`iclgd.properties.order`
(S1) and :mod:`iclgd.properties.llm` (S1's witnesses on real models, S2, S3); shared/SHEN.md.
"""
from __future__ import annotations

from ..claims import SHEN, Citation, Claim, register

S1 = register(Claim(
    id="S1",
    citation=Citation(**SHEN, theorem="Theorem 1"),
    tag="[paper]",
    statement="If an update algorithm A is equivalent to ICL (M_Θ0(S ∘ x) = M_{A(Θ0,S)}(x) for every "
    "demo set S and query x), then for any two orderings σ_A, σ_B of S the ICL outputs and the updated "
    "models' outputs differ by the same amount; hence A and ICL have the same order sensitivity.",
    assumptions=(
        "Definition 1: equivalence holds for every ordered demo set and every test input",
        "no architectural assumption on the model",
    ),
    kind="identity",  # a logical implication: its checks (and witnesses of its contrapositive) cannot refute it
    extra={
        "consequences": (
            "full-batch GD on a sum-decomposable loss is order invariant for any number of steps",
            "non-causal LSA is order invariant; causal LSA is not from two layers on",
            "SGD with batch size 1 and sequential Adam are order sensitive",
            "ICL more order sensitive than A refutes equivalence of A to ICL",
        ),
    },
))


S2 = register(Claim(
    id="S2",
    citation=Citation(**SHEN, theorem="§5, ICL vs GD agreement (Token Overlap@10, Overlap Cosine)"),
    tag="[paper]",
    statement="ICL agrees more with its reordered self than with any GD or ĜD variant: the Token "
    "Overlap@10 and Overlap Cosine Similarity between ICL and ICL with the demonstrations reordered "
    "exceed those between ICL and the model fine-tuned on the demonstrations (GD on the whole model, "
    "ĜD on W_V of a middle or a deep layer), on every dataset and number of demonstrations N.",
    assumptions=(
        "a pretrained causal LM (the paper: LLaMA-7B; GPT-J, GPT-Neo)",
        "classification datasets AGNews, CB, SST-2, RTE; N in {1, 2, 4, 8}; test inputs disjoint from demos",
        "GD: label-token cross-entropy, learning rate from {1e-3, 5e-3, 1e-4, 5e-4}, up to 200 epochs",
        "both sides read the next-token distribution over the whole vocabulary",
    ),
    kind="empirical",
    extra={ "metrics": ("token_overlap", "overlap_cosine")},
))

S3 = register(Claim(
    id="S3",
    citation=Citation(**SHEN, theorem="§6, sparsity of the hand-constructed one-step-GD weights"),
    tag="[paper]",
    statement="Pretrained weights are far less sparse than von Oswald et al.'s one-step-GD construction "
    "requires at the model's width (W_K, W_Q more than 99.99 % zeros and W_V about 75 % at LLaMA's 4096): "
    "at every threshold ε from 1e-2 to 1e-6 and in every layer, the fraction |w| < ε is below the requirement.",
    assumptions=(
        "a pretrained causal LM with separate (or GPT-2-fused) q/k/v projections",
        "sparsity = fraction of entries with |w| < ε, per layer [choice, SHEN.md]",
        "the requirement at token width 2·hidden: W_K = W_Q = [[I, 0], [0, 0]], W_V = [[0, 0], [W0, −I]]",
    ),
    kind="empirical",
))
