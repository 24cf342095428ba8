"""Claims checked on *trained* models that go beyond the two seed papers' statements.

Two are over-generalisations the suite expects to refute (their checks use ``expect="refute"``):
gradient training always reaching M1's global optimum, and the one-step-GD picture carrying over to
softmax attention. One is a peer theorem: Ahn et al.'s multi-layer preconditioners.
"""
from .claims import AHN, MAHANKALI, Citation, Claim, register

register(Claim(
    id="Ahn-L",
    citation=Citation(**AHN, theorem="critical points of L-layer linear transformers"),
    tag="[peer]",
    statement="For x ~ N(0, Σ), w ~ N(0, Σ⁻¹), an L-layer linear transformer trained to a critical point has "
    "per-layer preconditioners A_ℓ ∝ Σ⁻¹ (L steps of preconditioned GD); its loss is at most the one-layer L*.",
    assumptions=("x ~ N(0, Σ), w ~ N(0, Σ⁻¹)", "Ahn et al.'s residual linear-attention layout"),
))
register(Claim(
    id="M1-trained",
    citation=Citation(**MAHANKALI, theorem="Theorem 1 (global minimiser) — reachability by training is not claimed"),
    tag="[derived]",
    statement="Over-generalisation, expected to be refuted (the reachability claim): gradient training of a "
    "linear-attention model from a random initialisation always reaches the global optimum that the theorem "
    "for its data law names (M1, M2, M2g, M3; Ahn et al.'s L-layer model at least the one-layer L*). Every "
    "trained run that stays above the optimum is filed here as `not-reached`, never under the theorem.",
    assumptions=("the data law of M1, M2, M2g or M3", "Adam on fresh prompts from a random initialisation"),
    kind="overgeneralisation",
))
register(Claim(
    id="softmax-1L",
    citation=Citation(**MAHANKALI, theorem="Theorem 1, applied outside its linear-attention assumption"),
    tag="[derived]",
    statement="Over-generalisation, expected to be refuted: a trained one-layer *softmax* attention model reaches "
    "the one-step-GD optimum L* and is a Γ-predictor gᵀΓx_q.",
    assumptions=("M1 data law", "softmax attention instead of linear attention"),
    kind="overgeneralisation",
))

# the ids the trained tier (properties/trained.py) files its reachability and model-kind checks under
REACHABILITY, SOFTMAX_ONE_LAYER, LAYERED = "M1-trained", "softmax-1L", "Ahn-L"
