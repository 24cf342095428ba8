"""Models from outside the suite: load a user's in-context learner and run it on prompts.

A model is ``f(X, y, x_q) -> y_hat`` with X (B, n, d), y (B, n), x_q (B, d) and y_hat (B,), in the
suite's convention (shared/THEORY.md): the n demonstrations (x_j, y_j) and the query x_q of B prompts.
:func:`load_model` accepts, as ``spec``:

- ``path/to/file.py:name`` or ``package.module:name`` — a function (it receives NumPy float64 arrays)
  or a ``torch.nn.Module`` instance (it receives tensors on the device, in its parameters' dtype);
- ``path/to/model.pt`` — a TorchScript archive saved with ``torch.jit.save``, called like a module;
- ``module:Class`` (either form) with ``weights`` (a ``state_dict`` file, loaded with
  ``weights_only=True``: no pickled code runs) and ``model_kwargs`` (the constructor's keyword
  arguments, a dict or a JSON object).

:class:`ExternalModel` runs the model on a batch and validates what it returns; anything wrong —
an exception inside the model, a non-array, the wrong shape, NaN or inf — raises :class:`ModelError`
with one line naming what it returned. A model may declare the class it belongs to with an attribute
``iclgd_class = "lsa"`` (a Γ-predictor ŷ = gᵀΓx_q, or one-layer linear self-attention) or ``"other"``;
:func:`exposed_gamma` reads Γ from weights it exposes (see there). Nothing here reads a claim.
"""
from __future__ import annotations

import importlib
import importlib.util
import hashlib
import inspect
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

CLASS_ATTR = "iclgd_class"  # a model's declared class: "lsa" (one-layer LSA / Γ-predictor) or "other"
CLASSES = ("lsa", "other")


class ModelError(ValueError):
    """A model that cannot be loaded or returned something unusable; ``param`` names the flag to fix
    (``--model``, ``--weights``, ``--model-kwargs``) and the message is one line."""

    def __init__(self, param: str, message: str):
        message = " ".join(str(message).split())
        super().__init__(f"{param}: {message}")
        self.param, self.message = param, message


def _one_line(e: BaseException, limit: int = 240) -> str:
    text = " ".join(f"{type(e).__name__}: {e}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- loading -----------------------------------------------------------------------------------
def _import_file(path: Path):
    """Execute a .py file as a fresh module (its folder first on sys.path while it loads, so it can
    import its siblings); the module is named by a hash of its path, never shadowing a real package."""
    name = "iclgd_user_model_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelError("--model", f"cannot import {path} as a Python file")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(mod)
    except Exception as e:
        sys.modules.pop(name, None)
        raise ModelError("--model", f"importing {path} raised {_one_line(e)}") from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return mod


def _import_module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and name.startswith(e.name):
            raise ModelError("--model", f"no module named {name!r} (give path/to/file.py:name or an importable "
                             "package.module:name)") from None
        raise ModelError("--model", f"importing {name} raised {_one_line(e)}") from None
    except Exception as e:
        raise ModelError("--model", f"importing {name} raised {_one_line(e)}") from None


def _kwargs(model_kwargs) -> dict:
    if model_kwargs is None:
        return {}
    if isinstance(model_kwargs, str):
        try:
            model_kwargs = json.loads(model_kwargs)
        except json.JSONDecodeError as e:
            raise ModelError("--model-kwargs", f"not JSON ({e.msg} at character {e.pos}): {model_kwargs[:60]!r}") from None
    if not isinstance(model_kwargs, dict):
        raise ModelError("--model-kwargs", f"must be a JSON object of keyword arguments, got {type(model_kwargs).__name__}")
    return model_kwargs


def _load_state_dict(module: nn.Module, weights, cls_name: str) -> None:
    path = Path(weights)
    if not path.is_file():
        raise ModelError("--weights", f"file {path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ModelError("--weights", f"cannot read {path} as a state_dict ({_one_line(e)})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError("--weights", f"{path} holds a {type(state).__name__}, not a state_dict of tensors "
                         "(save one with torch.save(model.state_dict(), path))")
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except Exception as e:  # shape mismatches
        raise ModelError("--weights", f"{path} does not fit {cls_name}: {_one_line(e)}") from None
    if missing or unexpected:
        raise ModelError("--weights", f"{path} does not fit {cls_name}: missing keys {list(missing)[:5]}, "
                         f"unexpected keys {list(unexpected)[:5]}")


def load_model(spec: str, *, weights=None, model_kwargs=None, device="cpu") -> "ExternalModel":
    """The model named by ``spec`` (module doc), on ``device``, in evaluation mode."""
    device = torch.device(device)
    if not isinstance(spec, str) or not spec.strip():
        raise ModelError("--model", "empty model spec; expected path/to/file.py:name, package.module:name or model.pt")
    head, sep, attr = spec.rpartition(":")
    if not sep and spec.endswith((".pt", ".pth")):  # TorchScript archive
        path = Path(spec)
        if not path.is_file():
            raise ModelError("--model", f"file {path} does not exist" if not path.exists() else f"{path} is not a file")
        if weights is not None or model_kwargs is not None:
            raise ModelError("--weights", "a TorchScript archive carries its weights; --weights and --model-kwargs "
                             "go with module:Class")
        try:
            obj = torch.jit.load(str(path), map_location=device)
        except Exception as e:
            raise ModelError("--model", f"{path} is not a TorchScript archive saved with torch.jit.save "
                             f"({_one_line(e, 160)})") from None
        return wrap_model(obj, spec, device)
    if not sep or not head or not attr:
        raise ModelError("--model", f"{spec!r}: expected path/to/file.py:name, package.module:name or a TorchScript .pt file")
    if head.endswith(".py") or "/" in head or "\\" in head:
        path = Path(head)
        if not path.is_file():
            raise ModelError("--model", f"file {path} does not exist" if not path.exists() else f"{path} is not a file")
        mod = _import_file(path)
    else:
        mod = _import_module(head)
    if not hasattr(mod, attr):
        public = [k for k in vars(mod) if not k.startswith("_") and callable(getattr(mod, k))][:8]
        raise ModelError("--model", f"{head} has no attribute {attr!r} (callables there: {', '.join(public) or 'none'})")
    obj = getattr(mod, attr)
    kw = _kwargs(model_kwargs)
    if inspect.isclass(obj):
        try:
            obj = obj(**kw)
        except Exception as e:
            flag = "--model-kwargs" if kw else "--model"
            raise ModelError(flag, f"{attr}(**{json.dumps(kw)[:80]}) raised {_one_line(e)}") from None
        if weights is not None:
            if not isinstance(obj, nn.Module):
                raise ModelError("--weights", f"{attr} is not a torch.nn.Module: it has no state_dict to load")
            _load_state_dict(obj, weights, attr)
    elif weights is not None or kw:
        raise ModelError("--weights" if weights is not None else "--model-kwargs",
                         f"{attr} is a {type(obj).__name__}, not a class: --weights and --model-kwargs go with module:Class")
    return wrap_model(obj, spec, device)


def wrap_model(obj, name: Optional[str] = None, device="cpu") -> "ExternalModel":
    """An in-memory model (a function, an ``nn.Module``, a TorchScript module) as an :class:`ExternalModel`."""
    device = torch.device(device)
    name = name or getattr(obj, "__qualname__", None) or type(obj).__name__
    if not callable(obj):
        raise ModelError("--model", f"{name} is a {type(obj).__name__} ({str(obj)[:40]!r}), not callable")
    if isinstance(obj, nn.Module):
        try:
            obj = obj.to(device).eval()
        except Exception as e:
            raise ModelError("--model", f"moving {name} to {device} raised {_one_line(e)}") from None
        kind = "torchscript" if isinstance(obj, torch.jit.ScriptModule) else "module"
        return ExternalModel(obj, name, kind, device)
    return ExternalModel(obj, name, "function", device)


# ---- running -----------------------------------------------------------------------------------
def _float_dtype(module: nn.Module) -> torch.dtype:
    for t in (*module.parameters(), *module.buffers()):
        if t.is_floating_point():
            return t.dtype
    return torch.float64


@dataclass
class ExternalModel:
    """A loaded model and how to call it. ``kind``: "function" (NumPy float64 in), "module" or
    "torchscript" (tensors on ``device`` in the dtype of its first floating parameter, float64 if none)."""

    obj: Any
    name: str
    kind: str
    device: torch.device
    out_dtype: Optional[torch.dtype] = None  # the dtype the model last returned (its output precision)

    @property
    def in_dtype(self) -> torch.dtype:
        return torch.float64 if self.kind == "function" else _float_dtype(self.obj)

    def __call__(self, X: torch.Tensor, y: torch.Tensor, xq: torch.Tensor) -> torch.Tensor:
        """ŷ (B,) float64 on ``device`` for X (B, n, d), y (B, n), x_q (B, d); raises ModelError."""
        B = X.shape[0]
        shapes = f"X {tuple(X.shape)}, y {tuple(y.shape)}, x_q {tuple(xq.shape)}"
        try:
            # copies: a model that writes into its inputs must not change the prompts it is scored on
            if self.kind == "function":
                out = self.obj(*(t.detach().to("cpu", torch.float64).clone().numpy() for t in (X, y, xq)))
            else:
                with torch.no_grad():
                    out = self.obj(*(t.to(self.device, self.in_dtype).clone() for t in (X, y, xq)))
        except ModelError:
            raise
        except Exception as e:
            raise ModelError("--model", f"{self.name} raised {_one_line(e)} (called with {shapes})") from None
        return self._validated(out, B, shapes)

    def _validated(self, out, B: int, shapes: str) -> torch.Tensor:
        what = type(out).__name__
        if isinstance(out, torch.Tensor):
            t = out.detach()
        else:
            try:
                a = np.asarray(out)
            except Exception:
                a = np.asarray(None)
            if a.dtype.kind not in "fiu" or a.dtype == object:
                raise ModelError("--model", f"{self.name} returned a {what}{'' if a.dtype == object else f' of dtype {a.dtype}'}, "
                                 f"not an array of real numbers (called with {shapes}; expected shape ({B},))")
            t = torch.from_numpy(np.ascontiguousarray(a))
        if t.is_complex() or t.dtype == torch.bool:
            raise ModelError("--model", f"{self.name} returned a {what} of dtype {t.dtype}; expected real numbers of shape ({B},)")
        if tuple(t.shape) != (B,):
            raise ModelError("--model", f"{self.name} returned shape {tuple(t.shape)} for {B} prompts ({shapes}); "
                             f"expected ({B},)")
        bad = ~torch.isfinite(t.double())
        if bool(bad.any()):
            k = int(bad.sum())
            i = int(bad.nonzero()[0, 0])
            raise ModelError("--model", f"{self.name} returned {k} non-finite value(s) of {B} (first at index {i}: "
                             f"{float(t[i])}) ({shapes})")
        self.out_dtype = t.dtype if t.is_floating_point() else torch.float64
        return t.to(self.device, torch.float64).clone()  # its own storage: never a view of a larger output


def declared_class(model: ExternalModel) -> Optional[str]:
    """The model's ``iclgd_class`` attribute ("lsa" or "other"), or None; anything else raises."""
    value = getattr(model.obj, CLASS_ATTR, None)
    if value is None:
        return None
    if value not in CLASSES:
        raise ModelError("--model", f"{model.name} declares {CLASS_ATTR} = {value!r}; expected one of {', '.join(CLASSES)}")
    return value


def exposed_gamma(model: ExternalModel, d: int) -> Optional[tuple[torch.Tensor, float, str]]:
    """(Γ (d, d) float64, nuisance norm, source) read from weights the model exposes, or None:
    a ``readout()`` returning ``{"gamma": (d, d) or (1, d, d)}`` (the suite's LSA), or the one-layer
    LSA weights ``W_K, W_Q, W_V`` ((d+1, d+1) or (1, d+1, d+1)) and ``h`` (d+1,) of Mahankali et al.
    eq. (2), reduced by :func:`iclgd.empirics.models.lsa_readout` (Γ = u_y G_x + u_x g_yᵀ)."""
    from .models import lsa_readout

    obj = model.obj
    if callable(getattr(obj, "readout", None)):
        try:
            r = obj.readout()
        except Exception as e:
            raise ModelError("--model", f"{model.name}.readout() raised {_one_line(e)}") from None
        g = r.get("gamma") if isinstance(r, dict) else None
        if g is not None:
            g = torch.as_tensor(g).detach().to("cpu", torch.float64)
            if g.shape in ((d, d), (1, d, d)):
                nuis = r.get("nuisance_norm", 0.0)
                return g.reshape(d, d), float(torch.as_tensor(nuis).double().reshape(-1)[0]), "readout()"
    names = ("W_K", "W_Q", "W_V", "h")
    if all(isinstance(getattr(obj, k, None), torch.Tensor) for k in names):
        W = [getattr(obj, k).detach() for k in names]
        if all(w.shape[-2:] == (d + 1, d + 1) for w in W[:3]) and W[3].shape[-1] == d + 1:
            W = [w if w.ndim == (3 if i < 3 else 2) else w.unsqueeze(0) for i, w in enumerate(W)]
            if all(w.shape[0] == 1 for w in W):
                ro = lsa_readout(*W)
                return ro["gamma"][0], float(ro["nuisance_norm"][0]), "weights W_K, W_Q, W_V, h"
    return None


def finite_floor(dtype: Optional[torch.dtype]) -> float:
    """Relative resolution of a model's outputs: 1000 ε of the dtype it returned (float64 if unknown);
    losses closer than this (relative to L*) are not told apart."""
    eps = torch.finfo(dtype if dtype is not None and dtype.is_floating_point else torch.float64).eps
    return 1e3 * eps if math.isfinite(eps) else 0.0
