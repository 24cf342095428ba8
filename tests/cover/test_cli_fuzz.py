"""The CLI under any input (issue 15): argv lists drawn from a Hypothesis grammar of `iclgd` — valid
flags with hostile values, unknown flags, covariance files of every dtype and shape — must give

    exit 0 with finite, schema-valid output, or exit 2 with exactly one message line and no traceback.

Run in-process (``iclgd.cli.main(argv)``, stdout/stderr and warnings captured) for speed, under a
memory cap (``ICLGD_MEMORY_LIMIT``) so every outcome is machine-independent; a few real subprocess
runs check the same contract end to end. `iclgd train` cases are tiny (≤ 5 steps, ≤ 16 prompts) or
refused; `probe`, `verify` and `counterexamples` only ever reach argument parsing. Plumbing: no
claim evidence. Every invocation of the issue is pinned in ``ISSUE_CASES``.
"""
from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import os
import re
import subprocess
import sys
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from iclgd.cli import main
from iclgd.properties.profile import scale
from iclgd.properties.verdicts import DEFINITIONS

pytestmark = pytest.mark.tooling  # the suite's own tools, not a claim's evidence (iclgd verify --tiers tooling)

ROOT = Path(__file__).resolve().parents[2]
MEMORY_LIMIT = "2G"  # every fuzzed request either fits in this or is refused by the pre-flight
EXAMPLES = scale().max_examples  # 25 dev/ci, 300 nightly


# ---- running the CLI and the contract ----------------------------------------------------------
def invoke(argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` in-process: (exit code, stdout, stderr + any warning, one line each)."""
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        warnings.simplefilter("always")
        try:
            rc = main(list(argv))
        except SystemExit as e:  # argparse's own errors
            rc = e.code
    text = err.getvalue() + "".join(f"warning: {w.category.__name__}: {w.message}\n" for w in caught)
    return rc, out.getvalue(), text


def message_lines(err: str) -> list[str]:
    """stderr without argparse's usage block (``usage:`` and its indented continuation lines)."""
    lines, in_usage = [], False
    for line in err.splitlines():
        if line.startswith("usage:"):
            in_usage = True
            continue
        if in_usage and line.startswith(" "):
            continue
        in_usage = False
        if line.strip():
            lines.append(line)
    return lines


NONFINITE = re.compile(r"(?<![A-Za-z_])[-+]?(nan|inf|infinity)(?![A-Za-z_])", re.I)


def _strict_json(text: str):
    def refuse(token):
        raise AssertionError(f"non-finite JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def _finite_numbers(x, path="") -> None:
    if isinstance(x, dict):
        for k, v in x.items():
            _finite_numbers(v, f"{path}.{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            _finite_numbers(v, f"{path}[{i}]")
    elif isinstance(x, float):
        assert math.isfinite(x), f"{path} = {x}"
    elif isinstance(x, str):
        assert x not in ("nan", "inf", "-inf"), f"{path} = {x!r} (a non-finite number as a string)"


def _matrix(m, d: int, path: str, allow_none: bool = False) -> None:
    assert isinstance(m, list) and len(m) == d and all(isinstance(r, list) and len(r) == d for r in m), path
    for r in m:
        for v in r:
            assert (allow_none and v is None) or (isinstance(v, (int, float)) and not isinstance(v, bool)), (path, v)


def schema_predict(o: dict) -> None:
    assert {"claim", "paper", "d", "n", "sigma2", "gamma", "eta", "loss", "exact", "error", "accuracy"} <= set(o)
    if o["gamma"] != []:  # claims without a Γ (OLS) print an empty list
        _matrix(o["gamma"], o["d"], "gamma")
    assert isinstance(o["loss"], (int, float)) and (o["eta"] is None or isinstance(o["eta"], (int, float)))
    assert o["exact"] is None or isinstance(o["exact"], dict)
    assert 0 <= o["accuracy"]["relative_error"] <= 1e-3


def schema_train(o: dict) -> None:
    keys = {"claim", "setting", "model", "replicas", "basin", "gamma_learned", "gamma_star", "rel_error",
            "tolerance", "loss", "loss_star", "steps", "checks", "holds"}
    assert keys <= set(o), keys - set(o)
    d = o["setting"]["d"]
    _matrix(o["gamma_learned"], d, "gamma_learned", allow_none=True)
    _matrix(o["gamma_star"], d, "gamma_star")
    assert isinstance(o["holds"], bool)
    for c in o["checks"]:
        assert c["verdict"] in DEFINITIONS, c["verdict"]
        if c["tolerance"] is None or c["error"] is None:  # an unestimable tolerance is never a verdict
            assert c["verdict"] == "inconclusive", c
    for path, why in o.get("unavailable", {}).items():
        assert isinstance(why, str) and why, path


SCHEMAS = {"predict": schema_predict, "train": schema_train}


def assert_contract(argv: list[str], rc, out: str, err: str) -> None:
    """exit 0 with finite, schema-valid output, or exit 2 with one message line and no traceback."""
    flag = re.search(r"error: (?:argument )?(--[\w-]+|\w+)", err)
    with contextlib.suppress(InvalidArgument):  # outside a Hypothesis test: no statistics to feed
        event(f"{argv[0] if argv else ''} exit {rc}" + (f" {flag.group(1)}" if rc == 2 and flag else ""))
    assert "Traceback" not in err and "Traceback" not in out, err
    if rc == 0:
        assert not any(line.startswith("warning:") for line in err.splitlines()), err
        if "--json" in argv:
            o = _strict_json(out)
            _finite_numbers(o)
            SCHEMAS.get(argv[0], lambda _: None)(o)
        else:
            assert not NONFINITE.search(out), out
        return
    assert rc == 2, f"exit {rc!r}: {err}"
    assert out == "", out
    lines = message_lines(err)
    assert len(lines) == 1, err
    assert re.match(rf"iclgd( {argv[0]})?: error: ", lines[0]), err  # unknown flags: the top-level parser's line
    assert re.search(r"--[a-z]|argument|arguments|\bID\b", lines[0]), f"names no flag: {lines[0]}"


@pytest.fixture(autouse=True)
def _memory_cap(monkeypatch):
    monkeypatch.setenv("ICLGD_MEMORY_LIMIT", MEMORY_LIMIT)


# ---- the issue's invocations --------------------------------------------------------------------
FILES = {}  # name -> array written by the `files` fixture (None: an empty file)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("npy")
    arrays = {"empty0.npy": None, "empty.npy": np.zeros((0,)), "complex.npy": np.eye(2) * (1 + 0j),
              "bool.npy": np.eye(2, dtype=bool), "int.npy": np.eye(2, dtype=np.int64),
              "good.npy": np.array([[2.0, 0.5], [0.5, 1.0]])}
    for name, a in arrays.items():
        if a is None:
            (root / name).write_bytes(b"")
        else:
            np.save(root / name, a)
    np.save(root / "pickle.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.savez(root / "good.npz", a=np.eye(2))
    with open(root / "huge_header.npy", "wb") as f:  # declares 10⁵ × 10⁵ float64 (80 GB), holds 16 bytes
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (10**5, 10**5)})
        f.write(b"\0" * 16)
    return root


TRAIN = ["--steps", "3", "--batch", "8"]  # keeps the accepted train cases tiny
ISSUE_CASES = [  # (argv, expected flag in the one-line error, or None: exit 0 with finite output)
    (["predict", "--d", "100000", "--n", "10"], "--d"),
    (["predict", "--claim", "M2", "--d", "2", "--n", "3", "--cov", "{files}/empty0.npy"], "--cov"),
    (["predict", "--claim", "M2", "--d", "2", "--n", "3", "--cov", "{files}/empty.npy"], "--cov"),
    (["predict", "--d", "2", "--n", "3", "--sigma2", "1e308"], "--sigma2"),
    (["train", "--d", "2", "--n", "4", "--sigma2", "1e308"], "--sigma2"),
    (["train", "--claim", "M2", "--d", "2", "--n", "4", "--cov", "[[1e-300,0],[0,1e-300]]", "--json", *TRAIN], None),
    (["train", "--claim", "M2", "--d", "2", "--n", "4", "--cov", "[[1e300,0],[0,1e300]]", "--json", *TRAIN], None),
    (["train", "--d", "2", "--n", "4", "--batch", "1e10"], "--batch"),
    (["train", "--d", "2", "--n", "4", "--batch", "10000000000"], "--batch"),
    (["train", "--d", "2", "--n", "1e8"], "--n"),
    (["train", "--d", "2", "--n", "100000000"], "--n"),
    (["train", "--d", "5000", "--n", "4"], "--d"),
    (["train", "--d", "2", "--n", "4", "--replicas", "1e8"], "--replicas"),
    (["train", "--d", "2", "--n", "4", "--replicas", "100000000"], "--replicas"),
    (["train", "--d", "2", "--n", "4", "--layers", "100000"], "--layers"),
    (["train", "--d", "2", "--n", "4", "--seed", "1e23"], "--seed"),
    (["train", "--d", "2", "--n", "4", "--seed", "100000000000000000000000"], "--seed"),
    (["train", "--d", "2", "--n", "4", "--sigma2", "1e30"], "--sigma2"),
    (["train", "--d", "2", "--n", "4", "--replicas", "1", "--json", *TRAIN], None),
    (["train", "--d", "2", "--n", "4", "--steps", "1", "--batch", "8", "--json"], None),
    (["train", "--d", "2", "--n", "4", "--steps", "1", "--batch", "8"], None),
    (["train", "--claim", "M2", "--d", "2", "--n", "4", "--cov", "[[1,0],[0,1e-12]]"], "--cov"),
    (["train", "--d", "2", "--n", "4", "--target-error", "inf"], "--target-error"),
    (["predict", "--claim", "M2", "--d", "2", "--n", "3", "--cov", "{files}/complex.npy"], "--cov"),
    (["predict", "--claim", "M2", "--d", "2", "--n", "3", "--cov", "{files}/bool.npy"], "--cov"),
    (["predict", "--claim", "M2", "--d", "2", "--n", "3", "--cov", "{files}/int.npy"], "--cov"),
    (["train", "--claim", "M2", "--d", "2", "--n", "4", "--cov", "{files}/complex.npy"], "--cov"),
    (["predict", "--claim", "M2", "--d", "2", "--n", "3", "--cov", "{files}/good.npy", "--json"], None),
]


@pytest.mark.parametrize("argv, flag", ISSUE_CASES, ids=[" ".join(a[:7]) for a, _ in ISSUE_CASES])
def test_issue_invocations(files, argv, flag):
    argv = [a.replace("{files}", str(files)) for a in argv]
    rc, out, err = invoke(argv)
    assert_contract(argv, rc, out, err)
    if flag is None:
        assert rc == 0, err
    else:
        assert rc == 2 and flag in message_lines(err)[0], err


FOUND_CASES = [  # what building and fuzzing this found (notes/cli-robustness.md), pinned: (argv, flag or None)
    (["train", "--claim", "M3", "--d", "2", "--n", "4", "--target", "relu-sum:99999999999999999999", *TRAIN], "--target"),
    (["predict", "--claim", "M2g", "--d", "2", "--n", "3", "--cov", "[[1e300,0],[0,1e300]]",
      "--cov-w", "[[1e300,0],[0,1e300]]"], "--cov"),
    (["predict", "--claim", "M2g", "--d", "2", "--n", "3", "--cov", "[[1e-300,0],[0,1e-300]]",
      "--cov-w", "[[1e-300,0],[0,2e-300]]", "--sigma2", "1"], "--sigma2"),
    (["predict", "--claim", "M2g", "--d", "2", "--n", "3", "--cov", "[[1e-300,0],[0,1e-300]]",
      "--cov-w", "[[1e-300,0],[0,2e-300]]", "--json"], None),
    (["predict", "--claim", "M2", "--d", "2", "--n", "3", "--cov", "[" * 5000 + "]" * 5000], "--cov"),
    (["predict", "--claim", "M2", "--d", "2", "--n", "3", "--cov", f"[[{10**400},0],[0,1]]"], "--cov"),
    (["predict", "--claim", "M2", "--d", "2", "--n", "3", "--cov", "[[1.7e308,0],[0,1.7e308]]", "--json"], None),
    (["predict", "--claim", "M2", "--d", "2", "--n", "3", "--cov", "{files}/huge_header.npy"], "--cov"),
    (["predict", "--claim", "M2", "--d", "2", "--n", "3", "--cov", "{files}/pickle.npy"], "--cov"),
    (["predict", "--claim", "M2", "--d", "2", "--n", "3", "--cov", "{files}/good.npz"], "--cov"),
    (["predict", "--claim", "M2", "--d", "2", "--n", "3", "--sigma2", "1_0"], "--sigma2"),
    (["predict", "--d", "１", "--n", "3"], "--d"),
    (["predict", "--claim", "M2", "--d", "2", "--n", "4", "--cov", "[[5e-324,0],[0,5e-324]]"], "--cov"),
    (["train", "--claim", "M2", "--d", "2", "--n", "4", "--cov", "[[5e-324,0],[0,5e-324]]", *TRAIN], "--cov"),
    (["predict", "--claim", "ZFB", "--d", "1", "--n", "1", "--cov", "[[1e+154]]"], "--cov"),  # found by the grammar
    (["predict", "--claim", "vO-uniform", "--d", "2", "--n", "4", "--x-dist", "uniform:1e300"], "--x-dist"),
    (["predict", "--claim", "vO-uniform", "--d", "2", "--n", "4", "--x-dist", "uniform:1e-300"], "--x-dist"),
    (["predict", "--claim", "M2m", "--d", "2", "--n", "4", "--mean", "[1e300,1e300]"], "--mean"),
    (["predict", "--claim", "OLS", "--d", "2", "--n", "4", "--sigma2", "1e300", "--json"], None),
]


@pytest.mark.parametrize("argv, flag", FOUND_CASES, ids=[f"found{i}" for i in range(len(FOUND_CASES))])
def test_found_cases(files, argv, flag):
    test_issue_invocations(files, argv, flag)


def test_softmax_respects_the_step_budget():
    """`--steps 3` bounds the fallback schedule too (softmax has no reused moments: it used to run 800)."""
    rc, out, err = invoke(["train", "--d", "2", "--n", "4", "--model", "softmax", "--json", *TRAIN])
    o = _strict_json(out)
    assert rc == 0 and o["steps"] == 3 and o["prompts"] <= 3 * 8, err


def test_unavailable_quantities_are_inconclusive_with_a_reason():
    """One replica: no between-replica noise floor — the Γ/η/nuisance checks are `inconclusive` with a
    reason, the noise floor is reported unavailable, and nothing non-finite is printed. One step: no
    averaged tail, so no check that rests on the trainer's noise floor gives a verdict."""
    rc, out, err = invoke(["train", "--d", "2", "--n", "4", "--replicas", "1", "--json", *TRAIN])
    o = _strict_json(out)
    assert rc == 0, err
    floor = [c for c in o["checks"] if "noise floor" in c["reason"]]
    assert floor and all(c["verdict"] == "inconclusive" and c["inconclusive"] for c in floor)
    assert o["noise_floor"] is None and "noise_floor" in o["unavailable"]
    rc, out, err = invoke(["train", "--d", "2", "--n", "4", "--steps", "1", "--batch", "8", "--json"])
    o = _strict_json(out)
    assert rc == 0, err
    assert all(c["verdict"] == "inconclusive" for c in o["checks"] if "noise floor" in c["reason"])


def test_train_extreme_scale_maps_back_to_the_claim():
    """Σ = 2^±1000·diag(1, 2) trains scale-free; the reported Γ* is the claim's own, η Σ⁻¹ (M2)."""
    for k in (-1000, 1000):
        cov = (2.0**k * np.diag([1.0, 2.0])).tolist()
        rc, out, err = invoke(["train", "--claim", "M2", "--d", "2", "--n", "4", "--cov", json.dumps(cov),
                               "--json", *TRAIN])
        o = _strict_json(out)
        assert rc == 0, err
        eta = 4 / (4 + 2 + 1)
        np.testing.assert_allclose(o["gamma_star"], eta * np.linalg.inv(cov), rtol=1e-12)
        assert o["loss_star"] == pytest.approx(2 * 3 / 7) and o["rescaled"]["cov_divided_by"] != 1


def test_memory_preflight_names_the_flag_and_size(monkeypatch):
    monkeypatch.setenv("ICLGD_MEMORY_LIMIT", "1M")
    rc, _, err = invoke(["predict", "--d", "1024", "--n", "3"])
    assert rc == 2 and re.search(r"--d: 1024 needs ≈ [\d.]+ MiB .*1 MiB memory available", message_lines(err)[0]), err
    monkeypatch.setenv("ICLGD_MEMORY_LIMIT", "64M")
    rc, _, err = invoke(["train", "--d", "2", "--n", "4", "--batch", "100000", "--steps", "2"])
    assert rc == 2 and message_lines(err)[0].startswith("iclgd train: error: --batch: 100000 needs"), err


# ---- stated float accuracy and scale-free predict ----------------------------------------------
def _rational_spd(rng, d: int, cond: float) -> np.ndarray:
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    S = (Q * np.geomspace(1.0, 1.0 / cond, d)) @ Q.T
    return np.array([[float(f"{v:.17g}") for v in r] for r in (S + S.T) / 2])


@settings(max_examples=max(4, EXAMPLES // 5), deadline=None)
@given(seed=st.integers(0, 2**32 - 1), d=st.integers(2, 3), log_cond=st.integers(0, 11),
       log_scale=st.integers(-1000, 1000), claim=st.sampled_from(["M2", "M2g"]))
def test_predict_float_values_are_within_the_stated_accuracy(seed, d, log_cond, log_scale, claim):
    """Γ* printed by `iclgd predict` against Γ* in exact rational arithmetic (SymPy, on the decimals the
    user typed), for condition numbers up to 1e11 and scales 2^±1000: the relative Frobenius error is
    within the stated ``accuracy.relative_error`` — or the request is refused. The exact reference is
    the theory's rational closed form evaluated on the original (unscaled) matrix: independent of the
    CLI's rescaling and of float64 linear algebra."""
    rng = np.random.default_rng(seed)
    S = _rational_spd(rng, d, 10.0**log_cond) * 2.0**log_scale
    argv = ["predict", "--claim", claim, "--d", str(d), "--n", "5", "--sigma2", "0.5", "--cov", json.dumps(S.tolist()),
            "--json"]
    rc, out, err = invoke(argv)
    assert_contract(argv, rc, out, err)
    if rc == 2:
        assert "condition" in err or "range" in err or "subnormal" in err, err  # refused: says why
        return
    o = _strict_json(out)
    Se = sp.Matrix([[sp.Rational(Fraction(v)) for v in r] for r in S.tolist()])
    eta = sp.Rational(5) / (5 + d + 1 + sp.Rational(1, 2))
    exact = eta * Se.inv() if claim == "M2" else None
    if exact is None:  # M2g with Σ_w = I: Γ* = Σ_w Σ (a Σ_w Σ + c I)⁻¹ Σ⁻¹ (theory/lsa.py, square-root free)
        c = (Se.trace() + sp.Rational(1, 2)) / 5
        exact = Se * (sp.Rational(6, 5) * Se + c * sp.eye(d)).inv() * Se.inv()
    ref = np.array([[float(v) for v in exact.row(i)] for i in range(d)])
    s = np.abs(ref).max()  # scale-free norms: at 2^±1000 the squares under/overflow
    rel = np.linalg.norm((np.array(o["gamma"]) - ref) / s) / np.linalg.norm(ref / s)
    assert rel <= o["accuracy"]["relative_error"], (rel, o["accuracy"])


# ---- the grammar -----------------------------------------------------------------------------
INT_HOSTILE = ["0", "-1", "1e3", "2.0", "", " ", "nan", "0x10", "1_000", "９", "9" * 25, str(2**63), "-0",
               "+2", "1e23", "100000000000000000000000"]
REAL_HOSTILE = ["nan", "-nan", "inf", "-inf", "Infinity", "1e308", "1e400", "-1e-300", "-0", "1e-320", "0x1p3",
                "1_0", "", "one", "1e300", "5e-324"]


def mostly(valid, hostile, valid_in_10: int = 7):
    """``valid`` with probability about valid_in_10/10, else ``hostile``."""
    return st.integers(0, 9).flatmap(lambda k: valid if k < valid_in_10 else hostile)


def ints(lo: int, hi: int):
    return mostly(st.integers(lo, hi).map(str), st.one_of(st.sampled_from(INT_HOSTILE), st.integers().map(str)))


def reals(lo: float, hi: float):
    return mostly(st.floats(lo, hi).map(repr), st.one_of(st.sampled_from(REAL_HOSTILE), st.floats().map(repr)))


@st.composite
def json_matrix(draw, d: int) -> str:
    """A JSON matrix: often SPD at any scale and condition, else broken in one of many ways."""
    kind = draw(mostly(st.just("spd"), st.sampled_from(["asym", "shape", "nan", "ragged", "nested", "bool", "text",
                                                        "bigint", "empty", "garbage"]), 6))
    if kind in ("spd", "asym", "shape", "nan"):
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        with np.errstate(all="ignore"):
            S = _rational_spd(rng, d, 10.0 ** draw(mostly(st.integers(0, 3), st.integers(4, 15)))) * np.power(10.0, draw(
                mostly(st.integers(-3, 3), st.integers(-320, 320))))
        if kind == "asym" and d > 1:
            S[0, 1] += abs(S[0, 0]) * 1e-3 + 1e-300
        if kind == "shape":
            S = np.eye(d + draw(st.sampled_from([-1, 1]))) if d > 1 else np.eye(2)
        if kind == "nan":
            S[0, 0] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        with np.errstate(all="ignore"):
            return json.dumps(S.tolist())
    return {"ragged": "[[1,0],[0]]", "nested": "[" * 5000 + "]" * 5000, "bool": "[[true,false],[false,true]]",
            "text": '[["1","0"],["0","1"]]', "bigint": f"[[{10**400},0],[0,1]]", "empty": "[]",
            "garbage": draw(st.text(max_size=12))}[kind]


_COUNTER = itertools.count()
DTYPES = ["float16", "float32", "float64", "longdouble", "int8", "int64", "uint8", "bool", "complex64",
          "complex128", "object", "U3", "datetime64[s]", "structured"]


@st.composite
def npy_file(draw, root: Path, d: int) -> str:
    """A .npy file of any dtype and shape (or a corrupt, missing, empty or directory path)."""
    path = root / f"m{next(_COUNTER)}.npy"
    kind = draw(mostly(st.just("array"), st.sampled_from(["missing", "empty", "truncated", "random", "npz", "dir"])))
    if kind == "missing":
        return str(root / "missing" / path.name)
    if kind == "dir":
        path.mkdir(exist_ok=True)
        return str(path)
    if kind == "empty":
        path.write_bytes(b"")
        return str(path)
    if kind in ("truncated", "random"):
        np.save(path, np.eye(d))
        data = path.read_bytes()
        path.write_bytes(data[: draw(st.integers(0, len(data) - 1))] if kind == "truncated" else
                         draw(st.binary(min_size=1, max_size=64)))
        return str(path)
    if kind == "npz":
        with open(path, "wb") as f:
            np.savez(f, a=np.eye(d))
        return str(path)
    dtype = draw(mostly(st.sampled_from(DTYPES[:4]), st.sampled_from(DTYPES[4:]), 5))
    shape = draw(mostly(st.just((d, d)), st.sampled_from([(), (0,), (d,), (0, 0), (d, d, 1), (d + 1, d)])))
    base = np.eye(d) * draw(mostly(st.sampled_from([1.0, 2.0, 0.5]), st.sampled_from([1e-300, 1e300, 6e4, math.nan])))
    full = np.resize(base, shape) if shape != () else np.array(1.0)
    with np.errstate(all="ignore"):
        if dtype == "object":
            a = full.astype(object)
        elif dtype == "structured":
            a = np.zeros(shape, dtype=[("x", "f8"), ("y", "f8")])
        elif dtype.startswith("datetime"):
            a = np.zeros(shape, dtype=dtype)
        elif dtype == "U3":
            a = np.full(shape, "1.0", dtype="U3")
        else:
            a = np.nan_to_num(full, nan=0.0).astype(dtype) if dtype[0] in "iub" else full.astype(dtype)
    np.save(path, a, allow_pickle=True)
    return str(path)


PAPER_CLAIMS = ["ZFB", "ZFB-length", "Wu-length", "GD-average", "OLS", "vO-uniform", "Fu-Newton", "M2m", "M2m-LSA"]
CLAIMS = mostly(st.sampled_from(["M1", "M2", "M2g", "M3"]),
                st.sampled_from(["m1", "", "M9", "S1", "Ahn-L", "softmax-1L", *PAPER_CLAIMS]), 8)
TARGETS = mostly(st.one_of(st.sampled_from(["linear", "relu", "tanh", "relu-aniso:1,2", "relu-aniso:1,1"]),
                           st.integers(1, 10**25).map(lambda m: f"relu-sum:{m}")),  # any size of m
                 st.sampled_from(["relu-sum:0", "relu-aniso:1", "sigmoid", "", "relu-sum:-1", "relu-sum:1e3",
                                  "relu-aniso:nan,1", "relu-aniso:1e400,1"]))
UNKNOWN = st.sampled_from(["--dd", "--covw", "--sigma", "--no-such-flag", "-x", "--json=1", "--", "extra"])


@st.composite
def paper_flags(draw, d: int) -> list[str]:
    """The linear-regression papers' claims (theory/papers) and their flags (predict only): --test-n, --prior-scale, --x-dist, --mean."""
    argv = ["--claim", draw(st.sampled_from(PAPER_CLAIMS))] if draw(st.booleans()) else []
    values = {"--test-n": ints(1, 100), "--prior-scale": mostly(reals(1e-3, 1e3), reals(0, 1e300)),
              "--x-dist": mostly(st.one_of(st.sampled_from(["gaussian", "uniform:1", "uniform:0.5"]),
                                           st.floats(0, 1e308, exclude_min=True).map(lambda a: f"uniform:{a!r}")),
                                 st.sampled_from(["uniform:0", "uniform:nan", "uniform:-1", "laplace", "uniform:1e400",
                                                  "uniform:", ""])),
              "--mean": mostly(st.lists(st.one_of(st.floats(-10, 10), st.floats(-1e300, 1e300)), min_size=d,
                                        max_size=d).map(json.dumps),
                               st.sampled_from(["[]", "1,", "nan", "[1e400]", ",".join(["1"] * (d + 1)), "[[1]]"]))}
    for flag, strategy in values.items():
        if draw(st.integers(0, 2)) == 0:
            argv += [flag, draw(strategy)]
    return argv


@st.composite
def setting_flags(draw, root: Path, d_valid: int, n_max: int) -> list[str]:
    """--claim --d --n --sigma2 --cov --cov-w --target, each present or not, valid or hostile."""
    argv = []
    d_text = draw(mostly(st.just(str(d_valid)), ints(1, 1025), 8), label="d")
    d = int(d_text) if re.fullmatch(r"[0-9]{1,4}", d_text.strip()) else d_valid
    d = d if 1 <= d <= 8 else d_valid  # matrices stay small even when --d is hostile
    coherent = draw(st.integers(0, 2), label="coherent") == 0  # a claim with its own kind of inputs
    if coherent:
        claim = draw(st.sampled_from(["M2", "M2g", "M3"]), label="claim")
        argv += ["--claim", claim]
        argv += ["--target", draw(TARGETS)] if claim == "M3" else ["--cov", draw(json_matrix(d))]
        if claim == "M2g" and draw(st.booleans()):
            argv += ["--cov-w", draw(json_matrix(d))]
    elif draw(st.booleans()):
        argv += ["--claim", draw(CLAIMS)]
    if draw(st.integers(0, 9)):
        argv += ["--d", d_text]
    if draw(st.integers(0, 9)):
        argv += ["--n", draw(mostly(st.integers(1, n_max).map(str), ints(1, 10**9), 8))]
    if draw(st.booleans()):
        argv += ["--sigma2", draw(mostly(st.sampled_from(["0", "0.5", "2"]), reals(0, 1e300), 6))]
    for flag in ("--cov", "--cov-w"):
        if not coherent and draw(st.integers(0, 2)) == 0:
            argv += [flag, draw(st.one_of(json_matrix(d), npy_file(root, d)))]
    if not coherent and draw(st.integers(0, 2)) == 0:
        argv += ["--target", draw(TARGETS)]
    if draw(st.integers(0, 9)) == 0:
        argv += [draw(UNKNOWN)]
    return argv


FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                                   HealthCheck.data_too_large])


@settings(max_examples=4 * EXAMPLES, **FUZZ)
@given(data=st.data())
def test_predict_fuzz(files, data):
    """`iclgd predict` under the grammar (d ≤ 8 where valid)."""
    d = data.draw(st.integers(1, 3), label="d")
    argv = ["predict", *data.draw(setting_flags(files, d, 50), label="flags")]
    if data.draw(st.integers(0, 2), label="more") == 0:
        argv += data.draw(paper_flags(d), label="paper claims' flags")
    if data.draw(st.booleans(), label="json"):
        argv.append("--json")
    rc, out, err = invoke(argv)
    assert_contract(argv, rc, out, err)


@settings(max_examples=EXAMPLES, **FUZZ)
@given(data=st.data())
def test_train_fuzz(files, data):
    """`iclgd train`: always tiny (≤ 5 steps, ≤ 16 prompts per step, ≤ 3 replicas) or refused."""
    argv = ["train", *data.draw(setting_flags(files, data.draw(st.integers(1, 2), label="d"), 8), label="flags")]
    small = {"--steps": (1, 5), "--batch": (1, 16)}
    for flag, (lo, hi) in small.items():  # always present: the default budget is not tiny
        argv += [flag, data.draw(mostly(st.integers(lo, hi).map(str), st.sampled_from(INT_HOSTILE[:9]), 9), label=flag)]
    optional = {"--replicas": mostly(st.integers(1, 3).map(str), st.sampled_from(INT_HOSTILE[:9])),
                "--layers": mostly(st.integers(1, 3).map(str), st.sampled_from(INT_HOSTILE + ["65", "100000"])),
                "--seed": mostly(st.integers(0, 2**63 - 1).map(str), st.sampled_from(INT_HOSTILE)),
                "--target-error": mostly(st.sampled_from(["0.5", "1"]), reals(0, 1)),
                "--model": mostly(st.sampled_from(["lsa", "softmax"]), st.just("mlp")),
                "--dtype": mostly(st.sampled_from(["float32", "float64"]), st.just("float16")),
                "--device": mostly(st.just("cpu"), st.sampled_from(["cuda:7", "tpu", "", "cpu:0", "meta"]))}
    for flag, values in optional.items():
        if data.draw(st.integers(0, 4), label=f"has {flag}") == 0:
            argv += [flag, data.draw(values, label=flag)]
    if data.draw(st.booleans(), label="json"):
        argv.append("--json")
    rc, out, err = invoke(argv)
    assert_contract(argv, rc, out, err)


PROBE_INT_FLAGS = ["--shots", "--orders", "--test-inputs", "--epochs", "--eval-every", "--seed", "--k", "--n-boot"]


@settings(max_examples=2 * EXAMPLES, **FUZZ)
@given(data=st.data())
def test_parse_errors_of_probe_verify_counterexamples(data):
    """`probe` with an invalid numeric value, `verify` and `counterexamples` with an unknown flag or
    action: exit 2 at argument parsing (none of them runs: no model is loaded, no suite is started)."""
    cmd = data.draw(st.sampled_from(["probe", "probe", "verify", "counterexamples"]), label="command")
    if cmd == "probe":
        flag = data.draw(st.sampled_from(PROBE_INT_FLAGS + ["--level"]), label="flag")
        bad = st.sampled_from(REAL_HOSTILE[:6] + ["0", "1", "1.5"]) if flag == "--level" else \
            st.sampled_from(["1e3", "2.5", "", "nan", "-1", "0x10", "1_000", "９", "9" * 25])
        argv = [cmd, "--model", "/nonexistent", flag, data.draw(bad, label="value")]
    elif cmd == "verify":
        argv = [cmd, data.draw(st.sampled_from(["--no-such-flag", "--tier", "--profiles", "-z", "--json=yes"]))]
    else:
        argv = [cmd, *data.draw(st.sampled_from([["remove"], ["list", "--no-such-flag"], ["show", "x", "y", "z"],
                                                 [], ["--dir"]]), label="argv")]
    rc, out, err = invoke(argv)
    assert_contract(argv, rc, out, err)
    assert rc == 2


# ---- real processes --------------------------------------------------------------------------
SUBPROCESS_CASES = [  # each child pays the CLI's import time (≈ 3–10 s on a busy core): one in the default suite
    pytest.param(["predict", "--claim", "M2", "--d", "2", "--n", "3", "--cov", "{files}/complex.npy"], 2, id="predict-complex"),
    pytest.param(["predict", "--d", "2", "--n", "3", "--sigma2", "0.5", "--json"], 0, id="predict-ok",
                 marks=pytest.mark.slow),
    pytest.param(["train", "--d", "2", "--n", "4", "--layers", "100000"], 2, id="train-layers", marks=pytest.mark.slow),
    pytest.param(["train", "--d", "2", "--n", "4", "--replicas", "1", "--steps", "3", "--batch", "8", "--json"], 0,
                 id="train-one-replica", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("argv, code", SUBPROCESS_CASES)
def test_real_process(files, argv, code):
    """The contract end to end in a child process: exit code, stderr lines, no traceback, no warning."""
    argv = [a.replace("{files}", str(files)) for a in argv]
    env = {**os.environ, "ICLGD_MEMORY_LIMIT": MEMORY_LIMIT, "PYTHONWARNINGS": "default"}
    r = subprocess.run([sys.executable, "-m", "iclgd.cli", *argv], capture_output=True, text=True, env=env,
                       timeout=120, cwd=ROOT)
    assert r.returncode == code, r.stderr
    assert_contract(argv, r.returncode, r.stdout, r.stderr)
