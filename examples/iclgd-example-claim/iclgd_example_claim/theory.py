"""The claims (iclgd.theory objects only: no torch, no Hypothesis)."""
import numpy as np

from iclgd.theory import Claim, Part, Prediction, Setting
from iclgd.theory.claims import Citation

CITATION = Citation(authors="A. Example", title="The risk of predicting zero", venue="iclgd examples", year=2026,
                    theorem="Eq. (1)", bibkey="example2026zero")
ASSUMPTIONS = ("x ~ N(0, Σ), Σ SPD", "w ~ N(0, Σ_w), Σ_w SPD", "y = wᵀx + ε, ε ~ N(0, σ²) independent")


def _null(noise: bool):
    def predict(s: Setting, exact: bool) -> Prediction:
        signal = float(np.trace(s.Sigma @ s.Sigma_w))
        return Prediction(gamma=np.zeros((s.d, s.d)), eta=0.0, loss=signal + (s.sigma2 if noise else 0.0))
    return predict


def _targets_linear(s: Setting) -> None:
    if s.target != "linear":
        from iclgd.theory import SettingError
        raise SettingError("target", f"the example claims take linear responses only, got {s.target!r}")


CLAIMS = [
    Claim(id="Example-null-risk", citation=CITATION, tag="[paper]",
          statement="The zero predictor ŷ = 0 has risk E(y_q − 0)² = tr(ΣΣ_w) + σ².", assumptions=ASSUMPTIONS,
          predict_fn=_null(True), validate_fn=_targets_linear,
          parts=(Part("risk of ŷ = 0 is tr(ΣΣ_w) + σ²", "paper", "Eq. (1)"),), conditioning="cov-and-prior"),
    Claim(id="Example-null-risk-wrong", citation=CITATION, tag="[paper]",
          statement="Deliberately wrong: the zero predictor has risk tr(ΣΣ_w) (the label noise forgotten).",
          assumptions=ASSUMPTIONS, predict_fn=_null(False), validate_fn=_targets_linear,
          parts=(Part("risk of ŷ = 0 is tr(ΣΣ_w)", "paper", "Eq. (1), misprinted"),), conditioning="cov-and-prior"),
]
