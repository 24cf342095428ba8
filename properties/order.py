"""Order-sensitivity checks for claim S1 (Shen, Mishra & Khashabi, ICML 2024, Theorem 1).

- :func:`order_sensitivity` — the paper's measure [choice, shared/SHEN.md]: std across orderings
  (ddof 0), averaged over outputs and test inputs (defined once, in :mod:`iclgd.theory.order`).
- :func:`float_tolerance` / :func:`zero_test` — "zero up to floating-point error" versus "non-zero",
  from the dtype's unit roundoff u and the computation: Higham's bound |fl(p) − p| ≤ γ_N p̃(|x|),
  γ_N = N u / (1 − N u), N the longest chain of roundings (:func:`rounding_depth`) and p̃(|x|) the
  computation run on absolute values (``absolute=True`` in :mod:`iclgd.empirics.order`). If every
  ordering's output is within δ of a common exact value, their std is ≤ δ.
- :func:`bootstrap_interval` — percentile bootstrap over test inputs, seeded numpy Generator.
- :func:`refute_equivalence` — the reusable property: Theorem 1 says equivalence ⇒ equal pairwise
  differences across orderings ⇒ equal order sensitivity input by input, so a significant
  difference either way (an exact sign test over test inputs, :func:`sign_test`) witnesses "ICL is
  not equivalent to that algorithm" — a consequence of S1 (``expect="witness"``), never a
  refutation of it. It takes plain arrays, so the LLM probes call it on a real model unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from iclgd.theory.errors import SettingError
from iclgd.theory.order import order_sensitivity, per_input_sensitivity
from iclgd.theory.papers.shen import S1

from .checks import Check, check
from .stats import bootstrap_interval

__all__ = [
    "order_sensitivity", "per_input_sensitivity", "unit_roundoff", "gamma_n", "float_tolerance",
    "rounding_depth", "ZeroTest", "zero_test", "sensitivity_tolerance", "invariance_check",
    "bootstrap_interval", "refute_equivalence", "sign_test", "sign_test_inputs",
]


# ---- floating-point zero --------------------------------------------------------------------
def unit_roundoff(dtype) -> float:
    """u = eps/2 of a numpy or torch floating dtype (round to nearest)."""
    try:
        import torch

        if isinstance(dtype, torch.dtype):
            return torch.finfo(dtype).eps / 2
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    dt = np.dtype(dtype)
    if not np.issubdtype(dt, np.floating):
        raise SettingError("dtype", f"not a floating dtype: {dtype!r}")
    return float(np.finfo(dt).eps) / 2


def gamma_n(n_terms: int, dtype) -> float:
    """Higham's γ_N = N u / (1 − N u): the relative error bound after N roundings."""
    if n_terms < 0:
        raise SettingError("n_terms", f"must be >= 0, got {n_terms}")
    nu = n_terms * unit_roundoff(dtype)
    if nu >= 1:
        raise SettingError("n_terms", f"N u = {nu:.3g} >= 1: no rounding bound for this computation in {dtype}")
    return nu / (1 - nu)


def float_tolerance(dtype, n_terms: int, magnitude) -> float:
    """γ_N × magnitude: how far a result computed with N chained roundings, whose absolute-value
    evaluation is ``magnitude``, can be from the exact one (Higham 2002, §3.1–3.3)."""
    m = float(np.max(np.abs(magnitude))) if np.size(magnitude) else 0.0
    if not math.isfinite(m):
        raise SettingError("magnitude", "is not finite")
    return gamma_n(n_terms, dtype) * m


def rounding_depth(kind: str, *, n: int, d: int, steps: int = 1) -> int:
    """N for :func:`gamma_n`: roundings along the longest path of each computation of
    :mod:`iclgd.empirics.order` with recursive summation (a dot product of length m: m roundings).

    lsa (``steps`` layers, D = d+1): per layer q and k projections (D each), the score q·k (D), the
    value projection and the weighted sum over n keys (D + n), the 1/n scale and residual add (2);
    read-out D. gd: per step Xw (d), residual (1), Xᵀr (n), lr/n scale (2), add (1); read-out d.
    sgd (``steps`` epochs): per demo xᵀw (d), residual (1), scale (2), add (1). prefix: per round
    the weight step (n + 3) and the residual refresh x_kᵀx_i (d) + prefix sum (n) + 3. adam:
    per demo the gradient (d + 2), moments (3 each), bias corrections, sqrt, divide, add (≈ 8).
    """
    D = d + 1
    per = {
        "lsa": lambda: steps * (4 * D + n + 2) + D,
        "gd": lambda: steps * (d + n + 4) + d,
        "sgd": lambda: steps * n * (d + 4) + d,
        "prefix": lambda: steps * (d + 2 * n + 6) + d,
        "adam": lambda: steps * n * (d + 16) + d,
    }
    if kind not in per:
        raise SettingError("kind", f"unknown computation {kind!r}; known: {', '.join(per)}")
    return per[kind]()


@dataclass(frozen=True)
class ZeroTest:
    value: float  # the quantity tested
    tolerance: float  # γ_N × magnitude (+ the rounding of the statistic itself)
    reason: str

    @property
    def zero(self) -> bool:
        return abs(self.value) <= self.tolerance


def sensitivity_tolerance(outputs, magnitude, *, dtype, n_terms: int) -> tuple[float, str]:
    """Bound on the order sensitivity of outputs that are exactly order invariant.

    Output (σ, j, k) is within γ_N M[σ, j, k] of the common exact value, so its std across orderings
    is ≤ γ_N max_σ M[σ, j, k]; averaging gives γ_N mean_{j,k} max_σ M. The float64 std itself (of
    the differences from the first ordering: subtraction, mean of O values, deviation, square root)
    adds at most γ_{O+3} max_σ|out_σ − out_0|.
    """
    out = np.asarray(outputs, dtype=float)
    M = np.abs(np.asarray(magnitude, dtype=float))
    if M.shape != out.shape:
        raise SettingError("magnitude", f"shape {M.shape} differs from outputs {out.shape}")
    g = gamma_n(n_terms, dtype)
    stat = gamma_n(out.shape[0] + 3, np.float64) * float(np.abs(out - out[:1]).max(initial=0.0))
    tol = g * float(M.max(axis=0).mean()) + stat
    return tol, (f"γ_N·mean max_σ p̃(|x|) with N={n_terms} roundings in {_dtype_name(dtype)} (u={unit_roundoff(dtype):.3g}) "
                 f"+ γ_{out.shape[0] + 3}·max|out − out_0| for the float64 std")


def zero_test(outputs, magnitude, *, dtype, n_terms: int) -> ZeroTest:
    """Is the order sensitivity of ``outputs`` (O, I, K) zero up to floating-point error?"""
    tol, reason = sensitivity_tolerance(outputs, magnitude, dtype=dtype, n_terms=n_terms)
    return ZeroTest(order_sensitivity(outputs), tol, reason)


def invariance_check(outputs, magnitude, *, dtype, n_terms: int, quantity: str, setting: dict,
                     expect: str = "hold") -> Check:
    """Check "order sensitivity = 0" (S1's invariance consequences). With ``expect="witness"`` the
    Check records a found order dependence: ``holds`` is False when the sensitivity is non-zero."""
    z = zero_test(outputs, magnitude, dtype=dtype, n_terms=n_terms)
    return check(S1.id, quantity, 0.0, z.value, z.tolerance, z.reason, setting, error=abs(z.value), expect=expect)


# ---- the reusable refutation property -------------------------------------------------------
def _as_outputs(param: str, a) -> tuple[np.ndarray, object]:
    dtype = getattr(a, "dtype", None)
    try:
        arr = np.asarray(a.detach().cpu() if hasattr(a, "detach") else a, dtype=float)
    except (TypeError, ValueError) as e:
        raise SettingError(param, f"not a numeric array ({e})") from None
    if arr.ndim != 3:
        raise SettingError(param, f"expected shape (orderings, inputs, K), got {arr.shape}")
    if arr.shape[0] < 2 or arr.shape[1] < 1 or arr.shape[2] < 1:
        raise SettingError(param, f"need >= 2 orderings, >= 1 input, >= 1 output; got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise SettingError(param, "contains NaN or inf")
    try:
        unit_roundoff(dtype)
    except (SettingError, TypeError):
        dtype = np.float64
    return arr, dtype


def _dtype_name(dtype) -> str:
    return str(dtype) if hasattr(dtype, "is_floating_point") else np.dtype(dtype).name


def _witness(icl: np.ndarray, alg: np.ndarray, orderings) -> dict:
    """The pair of orderings (a, b) where Theorem 1's two sides differ most (RMS over inputs and
    outputs of (icl_a − icl_b) − (alg_a − alg_b)), and the pair whose ICL outputs differ most."""
    O = icl.shape[0]

    def sq_dists(A):  # (O, O) squared distances between orderings, from centred Gram matrices
        C = (A - A.mean(axis=0)).reshape(O, -1)
        G = C @ C.T
        g = np.diag(G)
        return np.maximum(g[:, None] + g[None, :] - 2 * G, 0.0) / C.shape[1]

    def pick(D2):
        a, b = np.unravel_index(np.argmax(np.triu(D2, 1)), D2.shape)
        return int(a), int(b)

    a, b = pick(sq_dists(icl - alg))
    ia, ib = pick(sq_dists(icl))
    rms = lambda x: float(np.sqrt(np.mean(x**2)))  # noqa: E731
    name = (lambda i: list(orderings[i])) if orderings is not None else (lambda i: i)
    return {
        "orderings": [name(a), name(b)],
        "rms_discrepancy": rms((icl[a] - icl[b]) - (alg[a] - alg[b])),
        "rms_difference_icl": rms(icl[a] - icl[b]),
        "rms_difference_alg": rms(alg[a] - alg[b]),
        "icl_most_different": [name(ia), name(ib)],
        "icl_most_different_rms": rms(icl[ia] - icl[ib]),
    }


def sign_test(d, tie: float = 0.0) -> dict:
    """Exact sign test on paired per-input differences ``d``: values with |d_i| ≤ ``tie`` are ties
    (dropped). Distribution-free and exact at any number of inputs — unlike a percentile bootstrap,
    whose tails over a few inputs are its extreme resamples (notes/llm-protocol.md: at 16 inputs a nominal
    99 % bootstrap interval of a lognormal mean misses 10 % of the time).

    Returns counts (``above``, ``below``, ``ties``) and the p-values of "d > 0 on most inputs"
    (``p_above``), "d < 0 on most inputs" (``p_below``) and the two-sided ``p_two``."""
    d = np.asarray(d, dtype=float)
    above, below = int((d > tie).sum()), int((d < -tie).sum())
    m = above + below

    p_above, p_below = _binom_tail(m, above), _binom_tail(m, below)
    return {"above": above, "below": below, "ties": int(d.size - m), "p_above": p_above, "p_below": p_below,
            "p_two": min(1.0, 2 * min(p_above, p_below))}


def _binom_tail(m: int, k: int, q: float = 0.5) -> float:
    """P(Binomial(m, q) ≥ k), exactly (1 when m = 0)."""
    if q == 0.5:
        return sum(math.comb(m, j) for j in range(k, m + 1)) / 2**m if m else 1.0
    return float(sum(math.comb(m, j) * q**j * (1 - q) ** (m - j) for j in range(k, m + 1)))


def sign_test_power(m: int, alpha: float, q: float) -> float:
    """Power of the exact one-sided sign test over ``m`` untied inputs at level ``alpha`` when a fraction
    ``q`` of inputs truly lies on the tested side: P(Binomial(m, q) ≥ k), k the smallest count whose
    null tail P(Binomial(m, ½) ≥ k) is ≤ α (0 when no count reaches α)."""
    k = next((k for k in range(1, m + 1) if _binom_tail(m, k) <= alpha), None)
    return 0.0 if k is None else _binom_tail(m, k, q)


def sign_test_detectable(m: int, alpha: float, power: float = 0.8) -> float:
    """Smallest true fraction q of inputs on the tested side that the one-sided sign test over ``m``
    inputs at ``alpha`` detects with probability ``power`` (bisection on :func:`sign_test_power`,
    monotone in q); 1.0 when even q → 1 is not detected."""
    if sign_test_power(m, alpha, 1.0) < power:
        return 1.0
    lo, hi = 0.5, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if sign_test_power(m, alpha, mid) >= power else (mid, hi)
    return hi


def sign_test_inputs(alpha: float, sided: str = "two") -> int:
    """Fewest untied inputs with which a sign test can reach level ``alpha`` at all (every sign alike):
    2^(1−m) ≤ α two-sided, 2^(−m) ≤ α one-sided."""
    if not 0 < alpha < 1:
        raise SettingError("alpha", f"must be in (0, 1), got {alpha}")
    return math.ceil(math.log2(1 / alpha)) + (1 if sided == "two" else 0)


def refute_equivalence(icl: np.ndarray, alg: np.ndarray, *, alg_name: str, setting: dict,
                       n_boot: int = 1000, seed: int = 0, level: float = 0.99,
                       float_tol: float | None = None, expect: str = "witness",
                       alpha: float | None = None) -> Check:
    """Theorem 1 between ICL and ``alg_name`` (Definition 1: equivalence for every S and x_t).

    ``icl``, ``alg``: (orderings, inputs, K) outputs for one demo set under the same orderings, row for
    row, and the same test inputs. Equivalence implies equal pairwise differences across orderings,
    hence, input by input, equal order sensitivities S_i (std across orderings, mean over outputs).
    The paired differences d_i = S_icl,i − S_alg,i are tested two-sided: Theorem 1's consequence is
    *equal* sensitivity, so an algorithm more order sensitive than ICL is as non-equivalent as a less
    sensitive one.

    - ``expect="witness"`` (the use on a real model: show non-equivalence, a consequence of S1): an
      exact two-sided sign test of the d_i at level ``alpha`` (inputs within ``float_tol`` are ties);
      error = −log10 p, tolerance = −log10 α, so error > tolerance is the witness (verdict ``held``;
      ``setting["direction"]`` says which side is more order sensitive). With too few untied inputs
      to ever reach α the check is ``inconclusive`` and says so. ``alpha`` defaults to the LLM
      family's per-check level (:func:`iclgd.properties.stats.per_check_alpha`).
    - ``expect="hold"`` (an exactly equivalent pair): no sampling question — every d_i must be within
      ``float_tol``; error = max_i |d_i|. A larger one is a counterexample to Theorem 1.

    ``float_tol=None`` covers the rounding of the sensitivity computation on these arrays,
    γ_{O+3}(dtype)·(max_σ|icl_σ − icl_0| + max_σ|alg_σ − alg_0|); pass the bound of the computations
    that produced the outputs when it is known. ``setting`` gains both sensitivities and the mean
    excess with ``level`` percentile-bootstrap intervals over test inputs (descriptive), the sign
    counts and the witness orderings (named by ``setting["orderings"]`` when given).
    """
    from .stats import per_check_alpha

    icl_a, dt_i = _as_outputs("icl", icl)
    alg_a, dt_a = _as_outputs("alg", alg)
    if icl_a.shape != alg_a.shape:
        raise SettingError("alg", f"shape {alg_a.shape} differs from icl {icl_a.shape}")
    if not isinstance(alg_name, str) or not alg_name:
        raise SettingError("alg_name", "must be a non-empty string")
    if not isinstance(setting, dict):
        raise SettingError("setting", f"must be a dict, got {type(setting).__name__}")
    if float_tol is not None and not (float_tol >= 0 and math.isfinite(float_tol)):
        raise SettingError("float_tol", f"must be a finite number >= 0, got {float_tol}")
    if expect not in ("witness", "hold"):
        raise SettingError("expect", f"must be 'witness' or 'hold', got {expect!r}")
    alpha = per_check_alpha("llm") if alpha is None else alpha
    need = sign_test_inputs(alpha)
    O, I, K = icl_a.shape
    orderings = setting.get("orderings")
    if orderings is not None and len(orderings) != O:
        raise SettingError("setting", f"'orderings' lists {len(orderings)} orderings; the arrays have {O}")
    if float_tol is None:
        u_dtype = dt_i if unit_roundoff(dt_i) >= unit_roundoff(dt_a) else dt_a
        spread = float(np.abs(icl_a - icl_a[:1]).max()) + float(np.abs(alg_a - alg_a[:1]).max())
        float_tol = gamma_n(O + 3, u_dtype) * spread
        float_reason = f"ties: |d_i| ≤ γ_{O + 3}({_dtype_name(u_dtype)})·(max|icl_σ − icl_0| + max|alg_σ − alg_0|) = {float_tol:.3g}"
    else:
        float_reason = f"ties: |d_i| ≤ given float tolerance {float_tol:.3g}"

    s_icl, s_alg = per_input_sensitivity(icl_a), per_input_sensitivity(alg_a)  # (I,), (I,)
    diff = s_icl - s_alg
    excess = float(diff.mean())
    st = sign_test(diff, float_tol)
    direction = ("icl_more" if st["above"] > st["below"] else "alg_more" if st["below"] > st["above"] else "tie")
    out_setting = {
        **setting,
        "n_orderings": O, "n_inputs": I, "n_outputs": K, "n_boot": n_boot, "seed": seed, "level": level,
        "alpha": alpha, "sign_test": st, "direction": direction,
        "sensitivity_icl": {"value": float(s_icl.mean()),
                            "interval": list(bootstrap_interval(s_icl, n_boot=n_boot, seed=seed, level=level))},
        "sensitivity_alg": {"value": float(s_alg.mean()),
                            "interval": list(bootstrap_interval(s_alg, n_boot=n_boot, seed=seed, level=level))},
        "excess": excess,
        "excess_interval": list(bootstrap_interval(diff, n_boot=n_boot, seed=seed, level=level)),
        "float_tol": float_tol,
        "witness": _witness(icl_a, alg_a, orderings),
    }
    quantity = f"order_sensitivity icl vs {alg_name}"
    if expect == "hold":
        err = float(np.abs(diff).max())
        reason = (f"an equivalent pair has equal per-input sensitivities: max_i |S_icl,i − S_alg,i| over {I} "
                  f"inputs vs the float tolerance ({float_reason})")
        return check(S1.id, quantity, float(s_alg.mean()), float(s_icl.mean()), float_tol, reason, out_setting,
                     error=err, expect="hold")
    untied = st["above"] + st["below"]
    p = max(st["p_two"], 1e-300)
    reason = (f"exact two-sided sign test of the per-input differences S_icl,i − S_alg,i over {I} test inputs "
              f"({st['above']} above, {st['below']} below, {st['ties']} ties; {float_reason}): "
              f"−log10 p = {-math.log10(p):.3g} vs −log10 α = {-math.log10(alpha):.3g}")
    weak = ""
    if untied < need:
        weak = (f"{untied} untied test inputs of {I}: the smallest p a two-sided sign test can give is "
                f"2^(1−{untied}) = {2.0 ** (1 - untied):.2g} > α = {alpha:.2g}; it needs >= {need} untied inputs "
                "to show a difference in order sensitivity of any size")
    elif p > alpha:  # a witness not shown: say what it could have shown (each side at α/2)
        weak = (f"neither side significant ({st['above']} ICL more, {st['below']} {alg_name} more order sensitive): "
                f"with {untied} untied inputs at α = {alpha:.2g} (two-sided) it detects (power 0.8) only one side "
                f"on ≥ {sign_test_detectable(untied, alpha / 2, 0.8):.1%} of inputs")
    return check(S1.id, quantity, float(s_alg.mean()), float(s_icl.mean()), -math.log10(alpha), reason,
                 out_setting, error=-math.log10(p), expect="witness", inconclusive=weak)
