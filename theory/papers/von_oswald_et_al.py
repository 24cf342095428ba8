"""von Oswald, Niklasson, Randazzo, Sacramento, Mordvintsev, Zhmoginov & Vladymyrov (ICML 2023),
"Transformers Learn In-Context by Gradient Descent": their data law, x with i.i.d. U(−a, a) coordinates,
w ~ N(0, I). The optimal step of ŷ = η gᵀx_q under it (vO-uniform) is the suite's derivation: Isserlis
does not apply, so it uses the uniform law's own fourth moment m₄ = a⁴/5."""
from __future__ import annotations

import numpy as np
import sympy as sp

from ..claims import Citation, Claim, Distribution, Part, Prediction, register
from ..errors import SettingError
from ..setting import Setting, exact, uniform_half_width
from ..validators import only

PAPER = dict(
    authors="Johannes von Oswald and Eyvind Niklasson and Ettore Randazzo and João Sacramento and "
    "Alexander Mordvintsev and Andrey Zhmoginov and Max Vladymyrov",
    title="Transformers Learn In-Context by Gradient Descent",
    venue="International Conference on Machine Learning (ICML)", year=2023,
    url="https://arxiv.org/abs/2212.07677", bibkey="vonoswald2023transformers")


def uniform_moments(a):
    """(s², m₄) of U(−a, a): a²/3, a⁴/5."""
    return a**2 / 3, a**4 / 5


def eta_uniform(n, d, a, sigma2=0):
    """η* = s² n / (m₄ + (n + d − 2) s⁴ + σ² s²)."""
    s2, m4 = uniform_moments(a)
    return s2 * n / (m4 + (n + d - 2) * s2**2 + sigma2 * s2)


def loss_uniform(n, d, a, sigma2=0):
    """L(η*) = σ² + d s² (1 − η* s²)."""
    s2, _ = uniform_moments(a)
    return sigma2 + d * s2 * (1 - eta_uniform(n, d, a, sigma2) * s2)


def _validate(s: Setting):
    only(s, "vO-uniform", {"x_dist", "sigma2"},
         {"cov": "vO-uniform fixes x's law: i.i.d. U(−a, a) coordinates (use --x-dist uniform:a)",
          "cov_w": "vO-uniform assumes w ~ N(0, I)", "mean": "vO-uniform assumes w ~ N(0, I)"})
    if uniform_half_width(s.x_dist) is None:
        raise SettingError("x_dist", "vO-uniform needs --x-dist uniform:a (i.i.d. U(−a, a) coordinates)")


def _predict(s: Setting, exact_: bool) -> Prediction:
    a = uniform_half_width(s.x_dist)
    eta = float(eta_uniform(s.n, s.d, a, s.sigma2))
    ex = None
    if exact_:
        ae = exact(a)
        e = sp.nsimplify(eta_uniform(s.n, s.d, ae, s.sigma2_exact))
        ex = {"eta": str(e), "gamma": f"({e})*I", "loss": str(sp.nsimplify(loss_uniform(s.n, s.d, ae, s.sigma2_exact)))}
    return Prediction(eta * np.eye(s.d), eta, float(loss_uniform(s.n, s.d, a, s.sigma2)), ex)


def _dist(s: Setting) -> Distribution:
    return Distribution(np.eye(s.d), np.eye(s.d), s.sigma2, "linear", x_dist=s.x_dist)


register(Claim(
    id="vO-uniform", citation=Citation(**PAPER, theorem="U(−a, a) data law"), tag="[derived]",
    statement="Coordinates of x i.i.d. U(−a, a) (s² = a²/3, m₄ = a⁴/5), w ~ N(0, I): the optimal step of "
    "ŷ = η gᵀx_q is η* = s² n / (m₄ + (n + d − 2) s⁴ + σ² s²), Γ* = η* I, L* = σ² + d s² (1 − η* s²).",
    assumptions=("x_j, x_q with i.i.d. U(−a, a) coordinates, a > 0", "w ~ N(0, I_d)",
                 "y_j = wᵀx_j + ε_j, ε_j ~ N(0, σ²) i.i.d., independent of x and w"),
    parts=(Part("in-context regression data with x_j i.i.d. U(−a, a) coordinates and w ~ N(0, I)", "paper"),
           Part("η* = s² n / (m₄ + (n + d − 2) s⁴ + σ² s²), Γ* = η* I, L* = σ² + d s² (1 − η* s²)", "derived")),
    predict_fn=_predict, distribution_fn=_dist, validate_fn=_validate, reads=("x_dist",),
))
