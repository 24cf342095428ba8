"""Claim S1 — Shen, Mishra & Khashabi (ICML 2024), Theorem 1: equivalence implies equal order sensitivity.

Definitions as code (shared/SHEN.md, "Formal core"):
- an *ICL map* f(S, x_q): a fixed model read on the ordered demonstrations S = (S_1, …, S_n) and a
  query, with no parameter change;
- an *update algorithm* A (:class:`UpdateAlgorithm`): Θ_S = A(Θ₀, S), read as M_{Θ_S}(x_q) with no
  demonstrations in the context;
- Definition 1: A is *equivalent* to f if f(S, x_q) = M_{A(Θ₀, S)}(x_q) for every S and x_q
  (:func:`equivalence_witness` checks it exactly on every ordering of a symbolic demo set);
- Theorem 1: if A is equivalent to f then for any two orderings σ_A, σ_B,
  f(σ_A S, x_q) − f(σ_B S, x_q) = M_{Θ_{σ_A S}}(x_q) − M_{Θ_{σ_B S}}(x_q)
  (:func:`theorem1`), hence equal order sensitivity (:func:`order_sensitivity`, the standard
  deviation across orderings) — and the contrapositive refutes equivalence;
- the exact form of order sensitivity: "the output changes under some transposition"
  (:func:`transposition_witness`). Symmetry under the n−1 adjacent transpositions of *symbolic*
  demos is symmetry under all of S_n, since they generate it (:func:`adjacent_transpositions`).

Models and algorithms, in SymPy so that identities are exact (the same arithmetic in torch is
:mod:`iclgd.empirics.order`):
- residual linear self-attention (LSA) stacks with or without a causal mask (:func:`lsa_readout`)
  and von Oswald et al.'s (2023) one-step-GD weights (:func:`gd_construction`);
- full-batch GD, SGD with batch size 1 over the demos in order, sequential Adam, and prefix-GD, the
  update algorithm a causal LSA stack implements (:func:`prefix_gd`).

Symbolic results (each a test in tests/test_order_theory.py):
(a) k steps of full-batch GD on a sum-decomposable loss are order invariant;
(b) non-causal LSA is order invariant at every depth; causal LSA is order invariant at the query for
    one layer (the query attends to every demo; only the demo positions see prefixes) and is not
    from two layers on — the witness is a transposition with a non-zero difference;
(c) SGD (batch 1) and sequential Adam are not order invariant;
(d) Theorem 1 on equivalent pairs (non-causal construction ↔ full-batch GD, sensitivity 0;
    causal construction ↔ prefix-GD, sensitivity > 0, equal pairwise differences) and its
    contrapositive on a non-equivalent pair (causal construction ↔ full-batch GD).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np
import sympy as sp
from sympy.combinatorics import Permutation, PermutationGroup

from .errors import SettingError

Demo = tuple[sp.Matrix, Any]  # (x: (d, 1) column, y: scalar expression)
Demos = tuple[Demo, ...]
ICLMap = Callable[[Demos, sp.Matrix], Any]  # (ordered demos, query) -> output


# ---- symbols, declared once -----------------------------------------------------------------
eta = sp.Symbol("eta", positive=True)  # step size / learning rate
beta1, beta2 = sp.symbols("beta1 beta2", positive=True)  # Adam moment decays
eps_adam = sp.Symbol("epsilon", positive=True)  # Adam's denominator offset
theta0 = sp.Symbol("theta0", real=True)  # scalar initial parameter (generic-loss results)
grad_ell = sp.Function("grad_ell", real=True)  # generic per-demo gradient ∇ℓ(θ; x, y)


def demo_symbols(n: int, d: int) -> tuple[Demos, sp.Matrix]:
    """n symbolic demos (x_i ∈ R^d, y_i ∈ R) and a symbolic query x_q (all real)."""
    if n < 1:
        raise SettingError("n", f"must be >= 1, got {n}")
    if d < 1:
        raise SettingError("d", f"must be >= 1, got {d}")
    X = sp.Matrix(n, d, lambda i, j: sp.Symbol(f"x{i + 1}_{j + 1}", real=True))
    y = sp.symbols(f"y1:{n + 1}", real=True)
    xq = sp.Matrix(d, 1, lambda j, _: sp.Symbol(f"xq_{j + 1}", real=True))
    return tuple((X[i, :].T, y[i]) for i in range(n)), xq


def scalar_demo_symbols(n: int) -> Demos:
    """n symbolic scalar demos (x_i, y_i) for the generic-loss results."""
    x = sp.symbols(f"x1:{n + 1}", real=True)
    y = sp.symbols(f"y1:{n + 1}", real=True)
    return tuple(zip(x, y))


def rational_demos(X, y) -> Demos:
    """Demos from rows of X (n, d) and labels y (n,), as exact rationals (0.1 -> 1/10)."""
    X = np.atleast_2d(np.asarray(X, dtype=object))
    return tuple(
        (sp.Matrix([sp.nsimplify(v, rational=True) for v in row]), sp.nsimplify(t, rational=True))
        for row, t in zip(X, y)
    )


# ---- orderings ------------------------------------------------------------------------------
def permute(demos: Sequence, order: Sequence[int]) -> tuple:
    """σ(S): the demos listed in the order ``order`` (a permutation of range(n))."""
    if sorted(order) != list(range(len(demos))):
        raise SettingError("order", f"{list(order)} is not a permutation of range({len(demos)})")
    return tuple(demos[i] for i in order)


def adjacent_transpositions(n: int) -> list[tuple[int, ...]]:
    """The n−1 orderings s_i = (i i+1), i = 0..n−2, as permutations of range(n)."""
    out = []
    for i in range(n - 1):
        p = list(range(n))
        p[i], p[i + 1] = p[i + 1], p[i]
        out.append(tuple(p))
    return out


def generate_symmetric_group(n: int) -> bool:
    """Do the adjacent transpositions generate S_n (|⟨s_1, …, s_{n−1}⟩| = n!)?"""
    if n < 2:
        return True
    G = PermutationGroup([Permutation(list(p)) for p in adjacent_transpositions(n)])
    return G.order() == math.factorial(n)


def all_orderings(n: int) -> list[tuple[int, ...]]:
    return list(itertools.permutations(range(n)))


# ---- update algorithms (Definition 1's A and M) ---------------------------------------------
@dataclass(frozen=True)
class UpdateAlgorithm:
    """A(Θ₀, S) with its read-out M_Θ(x_q); ``alg(S, x_q)`` = M_{A(Θ₀, S)}(x_q), an ICL-map signature."""

    name: str
    theta0: Any  # initial parameters Θ₀
    update: Callable[[Any, Demos], Any]  # (Θ₀, ordered demos) -> Θ_S
    model: Callable[[Any, sp.Matrix], Any]  # (Θ, query) -> output, no demos in context

    def __call__(self, demos: Demos, xq) -> Any:
        return self.model(self.update(self.theta0, demos), xq)


def linear_model(w: sp.Matrix, xq: sp.Matrix):
    """M_w(x_q) = wᵀ x_q."""
    return (w.T * xq)[0, 0]


def lsq_grad(w: sp.Matrix, demo: Demo) -> sp.Matrix:
    """∇_w ½(y − wᵀx)² = −(y − wᵀx) x."""
    x, y = demo
    return -(y - (w.T * x)[0, 0]) * x


def generic_grad(theta, demo: Demo):
    """An arbitrary per-demo gradient ∇ℓ(θ; x, y) (an undefined SymPy function of all three)."""
    x, y = demo
    return grad_ell(theta, x, y)


def gd_full_batch(theta, demos: Demos, *, grad=lsq_grad, lr=eta, steps: int = 1):
    """k steps of GD on the average loss (1/n) Σ_i ℓ(θ; S_i): θ ← θ − (lr/n) Σ_i ∇ℓ(θ; S_i)."""
    n = len(demos)
    for _ in range(steps):
        theta = theta - lr / n * sum((grad(theta, s) for s in demos[1:]), grad(theta, demos[0]))
    return theta


def sgd_sequential(theta, demos: Demos, *, grad=lsq_grad, lr=eta, epochs: int = 1):
    """SGD with batch size 1, demos in the given order: θ ← θ − lr ∇ℓ(θ; S_i), i = 1..n."""
    for _ in range(epochs):
        for s in demos:
            theta = theta - lr * grad(theta, s)
    return theta


def adam_sequential(theta, demos: Demos, *, grad=lsq_grad, lr=eta, b1=beta1, b2=beta2, eps=eps_adam,
                    epochs: int = 1):
    """Adam (Kingma & Ba 2015, Algorithm 1) with one step per demo, in the given order."""
    scalar = not isinstance(theta, sp.MatrixBase)
    th = sp.Matrix([theta]) if scalar else theta
    m = sp.zeros(*th.shape)
    v = sp.zeros(*th.shape)
    t = 0
    for _ in range(epochs):
        for s in demos:
            t += 1
            g = grad(th[0, 0] if scalar else th, s)
            g = sp.Matrix([g]) if scalar else g
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g.applyfunc(lambda z: z**2)
            mh = m / (1 - b1**t)
            vh = v / (1 - b2**t)
            th = th - lr * mh.multiply_elementwise(vh.applyfunc(lambda z: 1 / (sp.sqrt(z) + eps)))
    return th[0, 0] if scalar else th


def prefix_gd(w, demos: Demos, *, lr=eta, rounds: int = 1):
    """Prefix-GD, the algorithm a causal LSA stack with the GD construction implements.

    Residuals start at r_i = y_i − wᵀx_i. Each round, the weights take a full-batch GD step on the
    current residuals, w ← w + (lr/n) Σ_i r_i x_i, while each demo's residual is refreshed by the step
    fit on its *prefix* only: r_i ← r_i − (lr/n) Σ_{k≤i} r_k x_kᵀ x_i. With Σ_{k≤n} in place of
    Σ_{k≤i} the residuals stay y_i − wᵀx_i and this is full-batch GD.
    """
    n = len(demos)
    r = [y - (w.T * x)[0, 0] for x, y in demos]
    for _ in range(rounds):
        w = w + lr / n * sum((r[i] * demos[i][0] for i in range(1, n)), r[0] * demos[0][0])
        r = [r[i] - lr / n * sum((r[k] * (demos[k][0].T * demos[i][0])[0, 0] for k in range(i + 1)))
             for i in range(n)]
    return w


def full_batch_gd_algorithm(d: int, steps: int = 1, lr=eta, grad=lsq_grad) -> UpdateAlgorithm:
    return UpdateAlgorithm(f"GD(k={steps})", sp.zeros(d, 1),
                           lambda w, S: gd_full_batch(w, S, grad=grad, lr=lr, steps=steps), linear_model)


def sgd_algorithm(d: int, epochs: int = 1, lr=eta) -> UpdateAlgorithm:
    return UpdateAlgorithm(f"SGD(batch 1, epochs={epochs})", sp.zeros(d, 1),
                           lambda w, S: sgd_sequential(w, S, lr=lr, epochs=epochs), linear_model)


def adam_algorithm(d: int, epochs: int = 1, lr=eta, b1=beta1, b2=beta2, eps=eps_adam) -> UpdateAlgorithm:
    return UpdateAlgorithm(f"Adam(sequential, epochs={epochs})", sp.zeros(d, 1),
                           lambda w, S: adam_sequential(w, S, lr=lr, b1=b1, b2=b2, eps=eps, epochs=epochs),
                           linear_model)


def prefix_gd_algorithm(d: int, rounds: int = 1, lr=eta) -> UpdateAlgorithm:
    return UpdateAlgorithm(f"prefix-GD(rounds={rounds})", sp.zeros(d, 1),
                           lambda w, S: prefix_gd(w, S, lr=lr, rounds=rounds), linear_model)


# ---- ICL maps: residual linear self-attention -----------------------------------------------
@dataclass(frozen=True)
class LSAWeights:
    """One layer's (D, D) matrices, D = d+1, in the column convention e ↦ W e."""

    WQ: sp.Matrix
    WK: sp.Matrix
    WV: sp.Matrix


def gd_construction(d: int, lr=eta) -> LSAWeights:
    """von Oswald et al. (2023), Prop. 1 with W₀ = 0: W_K = W_Q = [[I, 0], [0, 0]], W_V = lr·[[0, 0], [0, −1]]."""
    P = sp.diag(*([1] * d + [0]))
    V = sp.zeros(d + 1, d + 1)
    V[d, d] = -lr
    return LSAWeights(P, P, V)


def symbolic_weights(d: int, prefix: str = "") -> LSAWeights:
    """Generic (D, D) weights with one real symbol per entry."""
    D = d + 1

    def mat(name):
        return sp.Matrix(D, D, lambda i, j: sp.Symbol(f"{prefix}{name}_{i}{j}", real=True))

    return LSAWeights(mat("Q"), mat("K"), mat("V"))


def lsa_tokens(demos: Demos, xq: sp.Matrix, layers: Sequence[LSAWeights], *, causal: bool) -> list[sp.Matrix]:
    """Tokens after a residual LSA stack: e_j ← e_j + (1/n) Σ_{i∈keys(j)} (e_iᵀ W_Kᵀ W_Q e_j) W_V e_i.

    Tokens e_i = (x_i, y_i), e_q = (x_q, 0). Keys are demo tokens only (Ahn et al.'s mask
    diag(I_n, 0)); with ``causal`` position j sees the demos at positions ≤ j. The query (last
    position) sees every demo in both cases. Normalisation 1/n throughout.
    """
    n = len(demos)
    E = [x.col_join(sp.Matrix([[y]])) for x, y in demos] + [xq.col_join(sp.zeros(1, 1))]
    for W in layers:
        keys = [W.WK * e for e in E[:n]]
        vals = [W.WV * e for e in E[:n]]
        new = []
        for j, e in enumerate(E):
            qj = W.WQ * e
            seen = range(min(j + 1, n)) if causal else range(n)
            attn = sum(((keys[i].T * qj)[0, 0] * vals[i] for i in seen), sp.zeros(*e.shape))
            new.append(e + attn / n)
        E = new
    return E


def lsa_readout(demos: Demos, xq: sp.Matrix, layers: Sequence[LSAWeights], *, causal: bool = False, h=None):
    """ICL output hᵀ e_q after the stack (default h = −e_{d+1}: minus the query's label slot)."""
    e = lsa_tokens(demos, xq, layers, causal=causal)[-1]
    if h is None:
        return -e[-1, 0]
    return (sp.Matrix(h).T * e)[0, 0]


def lsa_icl(layers: Sequence[LSAWeights], *, causal: bool = False, h=None) -> ICLMap:
    return lambda demos, xq: lsa_readout(demos, xq, layers, causal=causal, h=h)


# ---- order sensitivity ----------------------------------------------------------------------
def _is_zero(expr) -> bool:
    """Exact zero test: expansion for polynomials/rational functions, then simplify, then, for
    algebraic numbers (Adam's square roots), the minimal polynomial's constant term."""
    e = sp.expand(expr)
    if e == 0:
        return True
    if e.free_symbols:
        if e.is_polynomial(*e.free_symbols):  # an expanded polynomial is zero only if it is 0
            return False
        return sp.simplify(sp.together(e)) == 0
    mp = sp.minimal_polynomial(e, sp.Dummy("t"))
    return mp.subs(mp.free_symbols.pop(), 0) == 0


def _tidy(expr, max_ops: int = 400):
    """Factored form for display when it is small enough to factor quickly, else expanded."""
    e = sp.expand(expr)
    return sp.factor(e) if sp.count_ops(e) <= max_ops else e


def transposition_witness(f: ICLMap, demos: Demos, xq, transpositions=None) -> Optional[dict]:
    """The exact order-sensitivity statement: the first transposition τ with f(τS) ≠ f(S), with the
    difference f(τS) − f(S); None if f is unchanged by all of them (for symbolic demos and the
    adjacent transpositions, the default, None means invariance under all of S_n)."""
    n = len(demos)
    base = f(demos, xq)
    for tau in transpositions if transpositions is not None else adjacent_transpositions(n):
        diff = f(permute(demos, tau), xq) - base
        if not _is_zero(diff):
            return {"transposition": tuple(tau), "difference": _tidy(diff)}
    return None


def is_order_invariant(f: ICLMap, demos: Demos, xq) -> bool:
    return transposition_witness(f, demos, xq) is None


def equivalence_witness(icl: ICLMap, alg: ICLMap, demos: Demos, xq, orderings=None) -> Optional[dict]:
    """Definition 1 on one demo set: the first ordering σ with icl(σS, x_q) ≠ alg(σS, x_q), or None."""
    for order in orderings if orderings is not None else all_orderings(len(demos)):
        S = permute(demos, order)
        diff = icl(S, xq) - alg(S, xq)
        if not _is_zero(diff):
            return {"ordering": tuple(order), "difference": _tidy(diff)}
    return None


def pairwise_differences(f: ICLMap, demos: Demos, xq, orderings) -> dict:
    """{(σ_A, σ_B): f(σ_A S) − f(σ_B S)} over ordered pairs A < B."""
    out = {o: f(permute(demos, o), xq) for o in orderings}
    return {(a, b): out[a] - out[b] for a, b in itertools.combinations(orderings, 2)}


def theorem1(icl: ICLMap, alg: ICLMap, demos: Demos, xq, orderings=None) -> dict:
    """Theorem 1, evaluated: both sides of f(σ_A S) − f(σ_B S) = M_{Θ_σA}(x_q) − M_{Θ_σB}(x_q) for every
    pair of orderings, whether they coincide, and both order sensitivities (exact variances).

    The theorem says: ``equivalent`` ⇒ ``differences_coincide`` and equal sensitivities. Its
    contrapositive — differences that do not coincide refute equivalence — is the usable direction.
    """
    orderings = list(orderings if orderings is not None else all_orderings(len(demos)))
    di = pairwise_differences(icl, demos, xq, orderings)
    da = pairwise_differences(alg, demos, xq, orderings)
    mismatch = next(((p, di[p] - da[p]) for p in di if not _is_zero(di[p] - da[p])), None)
    vi = order_variance_exact([icl(permute(demos, o), xq) for o in orderings])
    va = order_variance_exact([alg(permute(demos, o), xq) for o in orderings])
    return {
        "equivalent": equivalence_witness(icl, alg, demos, xq, orderings) is None,
        "differences_coincide": mismatch is None,
        "mismatch": None if mismatch is None else {"orderings": mismatch[0], "difference": _tidy(mismatch[1])},
        "variance_icl": vi,
        "variance_alg": va,
        "sensitivities_equal": _is_zero(vi - va),
    }


def order_variance_exact(values: Sequence) -> sp.Expr:
    """Exact variance across orderings, (1/m) Σ_σ (f_σ − mean)²; its square root is the sensitivity."""
    m = len(values)
    mean = sum(values) / m
    return sp.expand(sum((v - mean) ** 2 for v in values) / m)


def order_sensitivity_exact(values: Sequence) -> sp.Expr:
    """Shen et al.'s order sensitivity of one output, exactly: the std across orderings (ddof 0)."""
    return sp.sqrt(order_variance_exact(values))


def per_input_sensitivity(outputs) -> np.ndarray:
    """Std across orderings (axis 0, ddof 0) averaged over the output axis: (O, I, K) -> (I,)."""
    a = np.asarray(outputs, dtype=float)
    if a.ndim != 3:
        raise SettingError("outputs", f"expected shape (orderings, inputs, K), got {a.shape}")
    if a.shape[0] < 2:
        raise SettingError("outputs", f"need at least 2 orderings, got {a.shape[0]}")
    return (a - a[:1]).std(axis=0).mean(axis=-1)  # std is shift invariant; outputs equal in every ordering give exactly 0


def order_sensitivity(outputs) -> float:
    """Shen et al.'s order sensitivity [choice, SHEN.md]: the standard deviation of each output across
    orderings (ddof 0), averaged over outputs K and test inputs. ``outputs``: (orderings, inputs, K)."""
    return float(per_input_sensitivity(outputs).mean())


