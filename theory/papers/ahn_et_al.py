"""Ahn, Cheng, Daneshmand & Sra (NeurIPS 2023), "Transformers learn to implement preconditioned gradient
descent for in-context learning": Ahn-L, the per-layer preconditioners of trained L-layer linear
transformers (checked on trained models, properties/trained.py)."""
from __future__ import annotations

from ..claims import AHN, Citation, Claim, register

register(Claim(
    id="Ahn-L",
    citation=Citation(**AHN, theorem="critical points of L-layer linear transformers"),
    tag="[peer]",
    statement="For x ~ N(0, Σ), w ~ N(0, Σ⁻¹), an L-layer linear transformer trained to a critical point has "
    "per-layer preconditioners A_ℓ ∝ Σ⁻¹ (L steps of preconditioned GD); its loss is at most the one-layer L*.",
    assumptions=("x ~ N(0, Σ), w ~ N(0, Σ⁻¹)", "Ahn et al.'s residual linear-attention layout"),
))

# the id the trained tier files its multi-layer structure checks under
LAYERED = "Ahn-L"
