"""Shared CLI arguments: parse `--d --n --sigma2 --cov --cov-w --target` into a validated Setting."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from iclgd.theory import Setting, SettingError


def add_setting_args(p: argparse.ArgumentParser, *, claim_default: str = "M1") -> None:
    p.add_argument("--claim", default=claim_default, help="claim id (M1, M2, M2g, M3)")
    p.add_argument("--d", type=int, required=True, help="covariate dimension d >= 1")
    p.add_argument("--n", type=int, required=True, help="context length n >= 1")
    p.add_argument("--sigma2", type=float, default=0.0, help="label noise variance σ² >= 0")
    p.add_argument("--cov", help="Σ: a JSON matrix such as '[[2,0.5],[0.5,1]]' or a .npy path")
    p.add_argument("--cov-w", dest="cov_w", help="Σ_w (prior of w, M2g): JSON matrix or .npy path")
    p.add_argument("--target", default="linear",
                   help="M3 response family: linear | relu | tanh | relu-sum:m | relu-aniso:s1,...,sd")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def parse_matrix(param: str, text):
    """A JSON matrix or a path to a .npy file; errors name ``param``."""
    if text is None:
        return None
    path = Path(text)
    if text.endswith(".npy"):
        if not path.is_file():
            raise SettingError(param, f"file {text} does not exist")
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise SettingError(param, f"cannot read {text}: {e}") from None
    try:
        value = json.loads(text, parse_constant=lambda c: math.nan)
    except json.JSONDecodeError:
        raise SettingError(param, f"neither a JSON matrix nor a .npy path: {text!r}") from None
    if not isinstance(value, list) or not all(isinstance(r, list) for r in value):
        raise SettingError(param, "must be a JSON list of rows, e.g. [[1,0],[0,1]]")
    if len({len(r) for r in value}) > 1:
        raise SettingError(param, "rows have different lengths")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for r in value for v in r):
        raise SettingError(param, "entries must be numbers")
    return value


def setting_from_args(args) -> Setting:
    return Setting(
        d=args.d,
        n=args.n,
        sigma2=args.sigma2,
        cov=parse_matrix("--cov", args.cov),
        cov_w=parse_matrix("--cov-w", args.cov_w),
        target=args.target,
    )
