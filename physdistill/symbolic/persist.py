"""Saving and loading a SymbolicModel: one safetensors file, no pickle.

The file (written by :func:`physdistill._io.save_state`) holds the module's ``state_dict``
tensors and, in its JSON metadata, the wrapper's parameters, the recorded call signature, the
Pareto fronts and chosen equations as expression trees, and optionally the recorded samples.
Everything read back is validated (expression trees against the whitelist, tensor shapes
against the module) before use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from physdistill.errors import PhysDistillError
from physdistill.symbolic.backends import get_backend
from physdistill.symbolic.capture import Reservoir, TensorSpec
from physdistill.symbolic.config import SRConfig
from physdistill.symbolic.expr import Expression
from physdistill.symbolic.front import ParetoFront
from physdistill.symbolic.selection import DEFAULT_FACTOR

if TYPE_CHECKING:  # for annotations only: model.py imports this module, not the reverse
    from physdistill.symbolic.model import SymbolicModel

FORMAT = "physdistill.SymbolicModel"
FORMAT_VERSION = 1


def params_dict(sm: SymbolicModel) -> dict:
    """The constructor parameters, JSON-able (the backend by its registry name)."""
    backend = get_backend(sm.backend)
    return {
        "input_names": None if sm.input_names is None else list(sm.input_names),
        "output_names": None if sm.output_names is None else list(sm.output_names),
        "transforms": None if sm.transforms is None else dict(sm.transforms),
        "features": None if sm.features is None else list(sm.features),
        "config": sm._config().to_dict(),
        "backend": backend.name,
        "max_samples": sm.max_samples,
        "rule": sm.rule,
        "factor": sm.factor,
        "seed": sm.seed,
        "n_jobs": sm.n_jobs,
    }


def model_state(sm: SymbolicModel, include_samples: bool = False) -> dict:
    """The nested state that :meth:`SymbolicModel.save` writes (tensors, dicts, lists)."""
    for name, formula in (sm.transforms or {}).items():
        if not isinstance(formula, str):
            raise PhysDistillError(f"transform {name!r} is a {type(formula).__name__}, "
                                   "which cannot be saved; write it as a formula string")
    state: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "params": params_dict(sm),
        "module": dict(sm.module.state_dict()) if isinstance(sm.module, nn.Module)
        else {},
        "input_spec": None if sm.input_spec_ is None
        else [s.to_list() for s in sm.input_spec_],
        "output_spec": None if sm.output_spec_ is None
        else [s.to_list() for s in sm.output_spec_],
        "output_kind": sm.output_kind_,
        "mode": sm.mode_,
        "fronts": {str(d): f.to_dict() for d, f in getattr(sm, "fronts_", {}).items()},
        "distill_key": getattr(sm, "distill_key_", None),
        "feature_names": getattr(sm, "feature_names_", None),
        "equations": None,
        "samples": None,
    }
    if hasattr(sm, "equations_"):
        eqs = {}
        for d in sm.equations_:
            mod = sm.equation_modules_[str(d)]
            eqs[str(d)] = {"expression": mod.expression().to_dict(),
                           "trainable": isinstance(mod.constants, nn.Parameter)}
        state["equations"] = eqs
    if include_samples and sm._reservoir is not None:
        state["samples"] = sm._reservoir.state()
        state["samples"]["key"] = sm._samples_key
    return state


def _factor(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 1:
        raise PhysDistillError("corrupt SymbolicModel file: 'factor' must be a number >= 1")
    return float(value)


def model_from_state(cls: type[SymbolicModel], state: dict, module: Any) -> SymbolicModel:
    """Rebuild a wrapper around ``module`` from :func:`model_state` output, validating it."""
    p = state["params"]
    allowed = {"input_names", "output_names", "transforms", "features", "config",
               "backend", "max_samples", "rule", "factor", "seed", "n_jobs"}
    if not isinstance(p, dict) or set(p) not in (allowed, allowed - {"factor"}):
        raise PhysDistillError("corrupt SymbolicModel file: bad 'params'")
    transforms = p["transforms"]
    if transforms is not None and not (isinstance(transforms, dict) and all(
            isinstance(v, str) for v in transforms.values())):
        raise PhysDistillError("corrupt SymbolicModel file: transforms must be formulas")
    sm = cls(module, input_names=p["input_names"], output_names=p["output_names"],
             transforms=transforms, features=p["features"],
             config=SRConfig.from_dict(p["config"]), backend=p["backend"],
             max_samples=p["max_samples"], rule=p["rule"],
             factor=_factor(p.get("factor", DEFAULT_FACTOR)), seed=p["seed"],
             n_jobs=p["n_jobs"])
    get_backend(sm.backend)
    if isinstance(module, nn.Module):
        _load_weights(module, state["module"])
    elif state["module"]:
        raise PhysDistillError("the file holds module weights but a plain callable was "
                               "given; pass the nn.Module")
    if state["input_spec"] is not None:
        sm.input_spec_ = [TensorSpec.from_list(s) for s in state["input_spec"]]
        sm.output_spec_ = [TensorSpec.from_list(s) for s in state["output_spec"]]
        if state["output_kind"] not in ("tensor", "tuple", "list"):
            raise PhysDistillError("corrupt SymbolicModel file: bad output kind")
        sm.output_kind_ = state["output_kind"]
    if state["fronts"]:
        sm.fronts_ = {int(d): ParetoFront.from_dict(f) for d, f in state["fronts"].items()}
        sm._dims(list(sm.fronts_))
        sm.distill_key_ = state["distill_key"]
        sm.feature_names_ = state["feature_names"]
    if state["samples"] is not None:
        s = state["samples"]
        sm._reservoir = Reservoir(sm.max_samples, sm.seed)
        sm._reservoir.load(s["data"], s["n_seen"])
        sm._samples_key = s["key"]
    if state["equations"] is not None:
        eqs = {int(d): Expression.from_dict(e["expression"])
               for d, e in state["equations"].items()}
        sm._dims(list(eqs))
        feats = sm.feature_columns()
        for d, e in eqs.items():
            if not set(e.variables) <= set(feats):
                raise PhysDistillError(f"equation {d} uses {e.variables}, not all among "
                                       f"the features {feats}")
        trainable = any(e.get("trainable") is True for e in state["equations"].values())
        sm._install(eqs, trainable)
        sm.mode_ = "symbolic" if state["mode"] == "symbolic" else "neural"
    return sm


def _load_weights(module: nn.Module, saved: Any) -> None:
    if not isinstance(saved, dict):
        raise PhysDistillError("corrupt SymbolicModel file: bad module weights")
    own = module.state_dict()
    missing = sorted(set(own) - set(saved))
    unexpected = sorted(set(saved) - set(own))
    if missing or unexpected:
        raise PhysDistillError(f"the saved weights do not fit this module: missing "
                               f"{missing[:5]}, unexpected {unexpected[:5]}; pass a module of "
                               "the same architecture")
    for k, v in own.items():
        w = saved[k]
        if not isinstance(w, torch.Tensor) or tuple(w.shape) != tuple(v.shape):
            got = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
            raise PhysDistillError(f"saved tensor {k!r} has shape {got}, the module expects "
                                   f"{tuple(v.shape)}; pass a module of the same architecture")
    module.load_state_dict(saved)
