"""The CLI's one input layer, shared by every subcommand (issue 15).

- numeric flags: integers and finite reals within a range the computation honours, stated in
  ``--help``; anything else (``1e3`` for an integer, ``nan``, out of range) exits 2 naming the flag;
- matrices (``--cov``, ``--cov-w``): a JSON list of rows or a ``.npy`` file that must be real floating,
  finite, non-empty and (d, d) — the header is read before the data, pickles are never loaded, and
  complex, integer or boolean arrays are refused, not cast;
- :func:`preflight`: a request whose tensors would not fit in the memory available is refused before
  allocation, naming the flag and the size it needed;
- :func:`finite_output`: no NaN or inf is ever printed as a result; such a value becomes ``null`` and
  is listed under ``unavailable`` with its reason.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iclgd.theory import Setting, SettingError

SEED_MAX = 2**63 - 1  # torch.Generator.manual_seed takes a signed 64-bit seed; numpy any seed >= 0
D_MAX = 1024  # covariate dimension: float64 closed forms, d×d SymPy moments (M3) and JSON of d² entries
N_MAX = 10**9  # context length: exact in float64 with room (n + d + 1 + σ² stays far from 2^53)
SIGMA2_MAX = 1e300  # label noise: d(d + 1 + σ²) and d σ² in the closed forms stay below float64's 1.8e308
CLAIMS = "default: the registry's first, the first seed paper's first theorem; `iclgd claims` lists all"


def _fmt(v) -> str:
    if v == SEED_MAX:
        return "2**63-1"
    return f"{v:g}" if isinstance(v, float) else str(v)


# ---- numeric flags ---------------------------------------------------------------------------
def integer(lo: int, hi: int):
    """argparse ``type``: a decimal integer literal in [lo, hi] (no ``1e3``, no ``2.0``: no coercion)."""

    def parse(text: str) -> int:
        t = text.strip()
        if not re.fullmatch(r"[+-]?[0-9]{1,30}", t):
            raise argparse.ArgumentTypeError(f"expected an integer in [{_fmt(lo)}, {_fmt(hi)}], got {text!r}")
        v = int(t)
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be an integer in [{_fmt(lo)}, {_fmt(hi)}], got {v}")
        return v

    return parse


_REAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf|infinity|nan)", re.I)


def real(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False):
    """argparse ``type``: a finite number in the interval (``lo_open``/``hi_open`` exclude the ends)."""
    iv = f"{'(' if lo_open else '['}{_fmt(lo)}, {_fmt(hi)}{')' if hi_open else ']'}"

    def parse(text: str) -> float:
        if not _REAL.fullmatch(text.strip()):  # ASCII decimal only: no '1_0', no other scripts' digits
            raise argparse.ArgumentTypeError(f"expected a number in {iv}, got {text!r}")
        v = float(text) + 0.0  # -0.0 -> 0.0
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"must be a finite number in {iv}, got {text!r}")
        if v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi):
            raise argparse.ArgumentTypeError(f"must be in {iv}, got {v:g}")
        return v

    parse.interval = iv
    return parse


def parse_real(param: str, text: str, lo: float, hi: float, **open_ends) -> float:
    """:func:`real` outside argparse (values inside a compound flag): errors are SettingError(param)."""
    try:
        return real(lo, hi, **open_ends)(text)
    except argparse.ArgumentTypeError as e:
        raise SettingError(param, str(e)) from None


def add_int(p: argparse.ArgumentParser, flag: str, lo: int, hi: int, help: str, **kw) -> None:
    """``p.add_argument(flag, type=integer(lo, hi))`` with the range appended to the help text."""
    p.add_argument(flag, type=integer(lo, hi), help=f"{help} (integer in [{_fmt(lo)}, {_fmt(hi)}])", **kw)


def add_real(p: argparse.ArgumentParser, flag: str, lo: float, hi: float, help: str, *,
             lo_open: bool = False, hi_open: bool = False, **kw) -> None:
    kind = real(lo, hi, lo_open=lo_open, hi_open=hi_open)
    p.add_argument(flag, type=kind, help=f"{help} (finite, in {kind.interval})", **kw)


def add_seed(p: argparse.ArgumentParser, help: str) -> None:
    add_int(p, "--seed", 0, SEED_MAX, help, default=0)


def add_setting_args(p: argparse.ArgumentParser, *, d_max: int = D_MAX) -> None:
    p.add_argument("--claim", default=None, help=f"claim id ({CLAIMS})")  # None: resolved by cli.main
    add_int(p, "--d", 1, d_max, "covariate dimension d", required=True)
    add_int(p, "--n", 1, N_MAX, "context length n", required=True)
    add_real(p, "--sigma2", 0.0, SIGMA2_MAX, "label noise variance σ²", default=0.0)
    p.add_argument("--cov", help="Σ: a JSON matrix such as '[[2,0.5],[0.5,1]]' or a .npy file of real floats, "
                   "shape (d, d), symmetric positive definite, condition number <= 1e13")
    p.add_argument("--cov-w", dest="cov_w", help="Σ_w (prior of w, M2g): JSON matrix or .npy path, as --cov")
    p.add_argument("--target", default="linear",
                   help="M3 response family: linear | relu | tanh | relu-sum:m | relu-aniso:s1,...,sd")
    p.add_argument("--json", action="store_true", help="machine-readable output")


# ---- matrices ----------------------------------------------------------------------------------
def _one_line(e: BaseException) -> str:
    return " ".join(f"{type(e).__name__}: {e}".split())[:200]


def _read_npy(param: str, path: Path, d: int) -> np.ndarray:
    """A (d, d) real floating array from a .npy file: the header is checked before any data is read."""
    if not path.is_file():
        raise SettingError(param, f"file {path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                raise SettingError(param, f"{path} is empty")
            version = np.lib.format.read_magic(f)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = header(f)
    except SettingError:
        raise
    except Exception as e:  # any malformed header: truncated, not .npy, bad magic or version
        raise SettingError(param, f"cannot read {path} as .npy ({_one_line(e)})") from None
    if dtype.hasobject:
        raise SettingError(param, f"{path} holds Python objects (a pickle); refused, it is never loaded")
    if dtype.kind != "f" or dtype.fields is not None or dtype.subdtype is not None:
        raise SettingError(param, f"{path} has dtype {dtype}: a covariance must be real floating "
                           "(complex, integer and boolean arrays are refused, not cast)")
    _check_shape(param, shape, d)
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as e:
        raise SettingError(param, f"cannot read {path} ({_one_line(e)})") from None
    with np.errstate(over="ignore"):
        return np.asarray(a, dtype=np.float64)


def _check_shape(param: str, shape: tuple, d: int) -> None:
    if len(shape) != 2:
        raise SettingError(param, f"must be a 2-D (d, d) matrix, got shape {tuple(shape)}")
    if 0 in shape:
        raise SettingError(param, f"is empty (shape {tuple(shape)})")
    if tuple(shape) != (d, d):
        raise SettingError(param, f"shape {tuple(shape)} does not match d={d}; expected ({d}, {d})")


def _from_json(param: str, text: str, d: int) -> np.ndarray:
    try:
        value = json.loads(text, parse_constant=lambda c: math.nan)
    except (json.JSONDecodeError, RecursionError):
        raise SettingError(param, f"neither a JSON matrix nor a .npy path: {text[:60]!r}") from None
    if not isinstance(value, list) or not all(isinstance(r, list) for r in value):
        raise SettingError(param, "must be a JSON list of rows, e.g. [[1,0],[0,1]]")
    if len({len(r) for r in value}) > 1:
        raise SettingError(param, "rows have different lengths")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for r in value for v in r):
        raise SettingError(param, "entries must be numbers")
    _check_shape(param, (len(value), len(value[0]) if value else 0), d)
    try:
        return np.array([[float(v) for v in r] for r in value], dtype=np.float64)
    except OverflowError:
        raise SettingError(param, "an entry is beyond float64's range (|x| > 1.8e308)") from None


def parse_matrix(param: str, text, d: int):
    """``None``, or a finite real (d, d) float64 array from a JSON matrix or a .npy path; errors name ``param``."""
    if text is None:
        return None
    if text.endswith(".npy"):
        a = _read_npy(param, Path(text), d)
    elif text.lstrip().startswith("["):
        a = _from_json(param, text, d)
    else:
        hint = " (a .npz archive is not a matrix: save one array with np.save)" if text.endswith(".npz") else ""
        raise SettingError(param, f"neither a JSON matrix nor a .npy path: {text[:60]!r}{hint}")
    if not np.all(np.isfinite(a)):
        raise SettingError(param, "contains NaN or inf (or entries beyond float64's range)")
    tiny = np.finfo(np.float64).tiny
    if np.any((a != 0) & (np.abs(a) < tiny)):
        raise SettingError(param, f"has subnormal entries (0 < |x| < {tiny:.3g}): too few significant bits "
                           "to honour; rescale the matrix")
    return a


def setting_from_args(args) -> Setting:
    from iclgd.theory import get_claim

    s = Setting(
        d=args.d,
        n=args.n,
        sigma2=args.sigma2,
        cov=parse_matrix("--cov", args.cov, args.d),
        cov_w=parse_matrix("--cov-w", args.cov_w, args.d),
        target=args.target,
        test_n=getattr(args, "test_n", None),
        prior_scale=getattr(args, "prior_scale", None),
        x_dist=getattr(args, "x_dist", None) or "gaussian",
        mean=parse_vector("--mean", getattr(args, "mean", None)),
        extra=claim_extra(get_claim(args.claim), args),
    )
    get_claim(args.claim).validate(s)
    return s


def claim_extra(claim, args) -> tuple:
    """``Setting.extra`` from the claim-parameter flags that were given, each parsed by the claim's
    :class:`~iclgd.theory.claims.Param` (a flag the claim does not declare is refused, naming it)."""
    mine = {p.name: p for p in claim.params}
    out = []
    for name in sorted(getattr(args, "claim_params", ())):
        raw = getattr(args, f"param_{name}", None)
        if raw is None:
            continue
        if name not in mine:
            raise SettingError("--" + name.replace("_", "-"), f"{claim.id} does not take this input"
                               + (f" (it takes {', '.join('--' + k.replace('_', '-') for k in mine)})" if mine else ""))
        out.append((name, mine[name].parse(raw)))
    return tuple(out)


# ---- the flags of shared/CLAIMS_MORE.md's claims (issue 13) ----------------------------------------
def add_more_setting_args(p: argparse.ArgumentParser, *, claim_params: bool = True) -> None:
    """--test-n, --prior-scale, --x-dist, --mean: read only by the claims that use them (others refuse);
    with ``claim_params`` also one flag per claim parameter (:func:`add_claim_param_args`)."""
    add_int(p, "--test-n", 1, N_MAX, "test prompt length M (ZFB-length, Wu-length; default: n)", dest="test_n")
    add_real(p, "--prior-scale", 0.0, SIGMA2_MAX, "ψ² of the prior w ~ N(0, ψ² I) (Wu-length; or --cov-w)",
             lo_open=True, dest="prior_scale")
    p.add_argument("--x-dist", dest="x_dist", help="law of x: gaussian | uniform:a (i.i.d. U(−a, a), a > 0; vO-uniform)")
    p.add_argument("--mean", help="β, the prior mean of w (M2m): a JSON list '[1,-0.5]' or '1,-0.5', length d")
    if claim_params:
        add_claim_param_args(p)


def add_claim_param_args(p: argparse.ArgumentParser) -> None:
    """One flag per parameter a registered claim declares (``Claim.params``, kept in ``Setting.extra``);
    a claim refuses the parameters it does not declare (``Claim.validate``). Two claims sharing a
    parameter name share its flag (the first declaration's help is shown)."""
    from iclgd.theory import REGISTRY

    seen: dict = {}
    for c in REGISTRY.values():
        for prm in c.params:
            seen.setdefault(prm.name, []).append((c.id, prm))
    for name, users in seen.items():
        prm = users[0][1]
        p.add_argument(prm.flag, dest=f"param_{name}", metavar="X",
                       help=f"{prm.help} ({', '.join(cid for cid, _ in users)})")
    p.set_defaults(claim_params=tuple(seen))


def parse_vector(param: str, text):
    """``None``, or a list of finite reals from a JSON list or a comma list; errors name ``param``."""
    if text is None:
        return None
    body = text.strip()
    if body.startswith("["):
        if not body.endswith("]"):
            raise SettingError(param, f"expected a JSON list such as [1,-0.5], got {text[:60]!r}")
        body = body[1:-1]
    parts = [t.strip() for t in body.split(",")]
    if not body.strip() or any(not t for t in parts):
        raise SettingError(param, f"expected numbers separated by commas, got {text[:60]!r}")
    return [parse_real(param, t, -SIGMA2_MAX, SIGMA2_MAX) for t in parts]


def condition(M: np.ndarray) -> float:
    """Spectral condition number λ_max/λ_min of an SPD matrix, computed scale-free."""
    s = float(np.abs(M).max())
    lam = np.linalg.eigvalsh(M / s)
    return float(lam[-1] / lam[0]) if lam[0] > 0 else math.inf


def pow2_scale(M: np.ndarray) -> float:
    """The power of two nearest the geometric mean of an SPD matrix's eigenvalues (exact to divide by)."""
    s = float(np.abs(M).max())
    lam = np.linalg.eigvalsh(M / s)
    k = round(math.log2(s) + float(np.mean(np.log2(lam))))
    return math.ldexp(1.0, min(max(k, -1022), 1023))  # a normal float64 power of two (2^1024 overflows)


# ---- memory --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Need:
    """``nbytes`` that one allocation needs; ``flags`` the flags that size it, as (flag, value, typical)."""

    what: str
    nbytes: float
    flags: tuple


def _limit_from_env():
    text = os.environ.get("ICLGD_MEMORY_LIMIT", "").strip().upper()
    if not text:
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)I?B?", text)
    if not m:
        raise SettingError("ICLGD_MEMORY_LIMIT", f"expected bytes such as 4G or 512M, got {text!r}")
    return float(m.group(1)) * 1024 ** "_KMGT".index(m.group(2) or "_")


def available_bytes(device=None) -> float:
    """Memory a request may use: free CUDA memory on a CUDA device, else the host's available memory
    (MemAvailable, capped by a cgroup limit), capped by ``ICLGD_MEMORY_LIMIT`` if set."""
    env = _limit_from_env()
    avail = math.inf
    if device is not None and getattr(device, "type", "cpu") == "cuda":
        import torch

        avail = float(torch.cuda.mem_get_info(device)[0])
    else:
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    avail = float(line.split()[1]) * 1024
        except OSError:
            pass
        try:
            cap = Path("/sys/fs/cgroup/memory.max").read_text().strip()
            used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
            if cap != "max":
                avail = min(avail, float(cap) - float(used))
        except (OSError, ValueError):
            pass
        if not math.isfinite(avail):
            try:
                avail = float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
            except (ValueError, OSError, AttributeError):
                pass
    return min(avail, env) if env is not None else avail


def human_bytes(b: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if b < 1024 or unit == "PiB":
            return f"{b:.3g} {unit}" if unit != "B" else f"{int(b)} B"
        b /= 1024
    return f"{b:.3g} EiB"


def preflight(needs: list[Need], device=None, share: float = 0.8) -> None:
    """Refuse, before allocating, a request whose largest allocation exceeds ``share`` of the memory
    available: one line naming the flag that sizes it most beyond its typical value."""
    need = max(needs, key=lambda n: n.nbytes)
    avail = available_bytes(device)
    if need.nbytes <= share * avail:
        return
    flag, value, _ = max(need.flags, key=lambda f: f[1] / f[2])
    others = ", ".join(f for f, _, _ in need.flags if f != flag)
    where = "GPU memory free" if device is not None and getattr(device, "type", "cpu") == "cuda" else "memory available"
    raise SettingError(flag, f"{value} needs ≈ {human_bytes(need.nbytes)} for {need.what}; "
                       f"{human_bytes(avail)} {where} — lower {flag}" + (f" (or {others})" if others else ""))


# ---- finite output ------------------------------------------------------------------------------
def finite_output(obj, reasons: dict | None = None, path: str = ""):
    """``obj`` with every NaN/inf float (or its string form) replaced by ``None``; returns
    ``(clean, unavailable)`` where ``unavailable`` maps each replaced path to its reason (from
    ``reasons``, keyed by path or by last path component, else a generic one)."""
    reasons = reasons or {}
    out: dict = {}

    def walk(x, p):
        if isinstance(x, dict):
            return {k: walk(v, f"{p}.{k}" if p else str(k)) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [walk(v, f"{p}[{i}]") for i, v in enumerate(x)]
        bad = (isinstance(x, float) and not math.isfinite(x)) or (isinstance(x, str) and x in ("nan", "inf", "-inf"))
        if bad:
            leaf = re.sub(r"\[\d+\]", "", p).rsplit(".", 1)[-1]
            out[p] = reasons.get(p) or reasons.get(leaf) or "not estimable here (the computation gave no finite value)"
            return None
        return x

    return walk(obj, path), out


def dumps(obj) -> str:
    """JSON with no NaN/Infinity tokens (raises ValueError if a non-finite float slipped through)."""
    return json.dumps(obj, indent=2, allow_nan=False)
