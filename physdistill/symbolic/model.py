"""SymbolicModel: record a module's inputs and outputs, distil them into equations, and swap the
equations in for the module.

The wrapped object is any ``nn.Module`` (recorded with a forward hook, so it is recorded when a
parent model calls it directly, every time it is called) or any callable (recorded when it is
called through the wrapper). See :mod:`physdistill.symbolic.capture` for the column order.

This module holds the settings, the distillation, SLIME and save/load; the recording and column
names are :mod:`~physdistill.symbolic.model_record`, the symbolic forward pass
:mod:`~physdistill.symbolic.model_forward` (mixins of :class:`SymbolicModel`).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from physdistill._io import load_state, save_state
from physdistill.errors import PhysDistillError
from physdistill.symbolic.backends import get_backend
from physdistill.symbolic.capture import (
    Reservoir,
    TensorSpec,
    flatten_output,
)
from physdistill.symbolic.config import SRConfig
from physdistill.symbolic.front import ParetoFront
from physdistill.symbolic.model_forward import _Switching
from physdistill.symbolic.model_record import _Recording, _weights_key
from physdistill.symbolic.persist import FORMAT, FORMAT_VERSION, model_from_state, model_state
from physdistill.symbolic.regress import regress_columns
from physdistill.symbolic.selection import DEFAULT_FACTOR

_CACHE_KEYS = 4


class SymbolicModel(_Recording, _Switching, nn.Module):
    r"""Distil a module into one closed-form equation per output dimension (SymTorch's idea).

    Follows the scikit-learn contract: ``__init__`` only stores the parameters below; learned
    state ends in ``_`` (``fronts_``, ``equations_``); methods that need it check for it.

    Args:
        module: an ``nn.Module`` or any callable taking and returning tensors.
        input_names: names of the input columns (default ``x0, x1, ...``); see
            :mod:`~physdistill.symbolic.capture` for the column order.
        output_names: names of the output columns (default ``y0, y1, ...``).
        transforms: extra features as formulas of the inputs, e.g.
            ``{"r": "sqrt(dx**2 + dy**2)"}`` (text, read by the safe parser, so they can be
            saved and hashed; lambdas are refused).
        features: the names (inputs and transforms) given to the regression; default: all
            inputs, then all transforms.
        config: the :class:`~physdistill.symbolic.config.SRConfig` of every fit. Output
            ``d`` is searched with seed ``config.seed + d``.
        backend: SR backend name or instance.
        max_samples: size of the reservoir of recorded rows.
        rule: default selection rule on each front (:mod:`~physdistill.symbolic.selection`).
        factor: the rule's loss window (candidates with loss <= ``factor`` x the lowest).
        seed: seed of the reservoir sampling.
        n_jobs: outputs fitted at once (threads; only for backends that allow it, e.g.
            pyoperon); the cores are split between them. Default: ``min(outputs, cores)``.

    Learned attributes:
        fronts_: ``{dim: ParetoFront}`` after :meth:`distill`.
        equations_: ``{dim: Expression}`` after :meth:`switch_to_symbolic`.
        mode_: ``"neural"`` or ``"symbolic"``.
        input_spec_, output_spec_: shapes of the recorded calls.
        n_fits_: number of searches run (cache hits do not count).

    Shapes:
        The symbolic forward takes the same arguments as the module and returns the same
        structure: an output of shape ``(*lead, k)`` is rebuilt from ``k`` equations.

    Example:
        >>> sm = SymbolicModel(mlp, input_names=["a", "b"], config=SRConfig(time_limit_s=5))
        >>> with sm.capture():
        ...     mlp(x)                       # or parent(batch): every call is recorded
        >>> sm.distill().switch_to_symbolic()
        >>> sm(x)                            # now evaluates the equations with torch
    """

    def __init__(self, module: nn.Module | Callable, *, input_names: Sequence[str] | None = None,
                 output_names: Sequence[str] | None = None,
                 transforms: Mapping[str, str] | None = None,
                 features: Sequence[str] | None = None, config: SRConfig | None = None,
                 backend: Any = "operon", max_samples: int = 10_000, rule: str = "best",
                 factor: float = DEFAULT_FACTOR, seed: int = 0, n_jobs: int | None = None):
        super().__init__()
        if not callable(module):
            raise PhysDistillError(f"SymbolicModel wraps an nn.Module or a callable, got "
                                   f"{type(module).__name__}")
        self.module = module
        self.input_names = input_names
        self.output_names = output_names
        self.transforms = transforms
        self.features = features
        self.config = config
        self.backend = backend
        self.max_samples = max_samples
        self.rule = rule
        self.factor = factor
        self.seed = seed
        self.n_jobs = n_jobs
        # runtime state (not parameters, not learned)
        self._reservoir: Reservoir | None = None
        self._samples_key: str | None = None
        self._active = 0
        self._suspend = False
        self._cache: OrderedDict = OrderedDict()
        self.mode_ = "neural"
        self.input_spec_: list[TensorSpec] | None = None
        self.output_spec_: list[TensorSpec] | None = None
        self.output_kind_: str | None = None
        self.n_fits_ = 0

    # --- keys --------------------------------------------------------------------------------

    def _config(self) -> SRConfig:
        cfg = self.config if self.config is not None else SRConfig()
        if not isinstance(cfg, SRConfig):
            raise PhysDistillError(f"config must be an SRConfig, got {type(cfg).__name__}")
        return cfg

    def _state_key(self) -> str:
        """What the equations depend on besides the data: weights, transforms, features."""
        tf = {k: str(v.sympy()) for k, v in self._transform_exprs().items()}
        blob = json.dumps([_weights_key(self.module), tf, self.feature_columns()])
        return hashlib.sha256(blob.encode()).hexdigest()

    def _fit_key(self, data: np.ndarray) -> str:
        backend = get_backend(self.backend)
        blob = json.dumps([self._state_key(), self._config().to_dict(), backend.name,
                           repr(getattr(backend, "pysr_kwargs", "")), self.rule,
                           self.factor])
        h = hashlib.sha256(blob.encode())
        h.update(np.ascontiguousarray(data).tobytes())
        return h.hexdigest()

    # --- distillation ------------------------------------------------------------------------

    def _features_and_targets(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        if self._reservoir is None or self._reservoir.size == 0:
            raise PhysDistillError("no samples recorded: run the model inside "
                                   "`with symbolic_model.capture():` before distill()")
        if self._samples_key != _weights_key(self.module):
            raise PhysDistillError("the module's weights changed after its samples were "
                                   "recorded; record them again (clear_samples(), then "
                                   "capture()) before distill()")
        data = self._reservoir.data
        n_in = self.n_inputs
        env = {n: data[:, j] for j, n in enumerate(self.input_columns())}
        for name, e in self._transform_exprs().items():
            env[name] = e.evaluate(env)
        feats = self.feature_columns()
        F = np.stack([env[f] for f in feats], axis=1)
        Y = data[:, n_in:]
        ok = np.all(np.isfinite(F), axis=1) & np.all(np.isfinite(Y), axis=1)
        if ok.sum() < 10:
            raise PhysDistillError(f"only {int(ok.sum())} recorded rows have finite features; "
                                   "check the transforms (e.g. log of a negative input)")
        return F[ok], Y[ok], feats

    def _dims(self, dims: Sequence[int] | int | None) -> list[int]:
        n_out = self.n_outputs
        if dims is None:
            return list(range(n_out))
        if isinstance(dims, int):
            dims = [dims]
        names = self.output_columns()
        out = []
        for d in dims:
            if isinstance(d, str) and d in names:
                d = names.index(d)
            if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d < n_out:
                raise PhysDistillError(f"output dimension {d!r} does not exist; expected "
                                       f"0..{n_out - 1} or a name in {names}")
            out.append(d)
        return sorted(set(out))

    def distill(self, dims: Sequence[int] | int | None = None) -> SymbolicModel:
        """Fit one equation per output dimension (or per dimension in ``dims``).

        Searches are cached: with the same weights, transforms, features, config, backend and
        recorded samples, a dimension is not searched again. Independent dimensions run in
        threads when the backend allows it (pyoperon).

        Returns:
            ``self``; the fronts are in ``fronts_``.
        """
        F, Y, feats = self._features_and_targets()
        dims = self._dims(dims)
        cfg = self._config()
        backend = get_backend(self.backend)
        key = self._fit_key(np.concatenate([F, Y], axis=1))
        todo = [d for d in dims if (key, d) not in self._cache]
        if todo:
            fronts = regress_columns(F, Y[:, todo], feats, config=cfg, backend=backend,
                                     rule=self.rule, factor=self.factor, n_jobs=self.n_jobs,
                                     offsets=todo)
            for d, f in zip(todo, fronts):
                self._cache[(key, d)] = f
            self.n_fits_ += len(todo)
            keys = list(dict.fromkeys(k for k, _ in self._cache))
            for old in keys[:-_CACHE_KEYS]:
                for k in [k for k in self._cache if k[0] == old]:
                    del self._cache[k]
        self.fronts_ = {d: self._cache[(key, d)] for d in range(self.n_outputs)
                        if (key, d) in self._cache}
        self.feature_names_ = feats
        self.distill_key_ = self._state_key()
        return self

    def adopt_fronts(self, fronts: Mapping[int, ParetoFront]) -> SymbolicModel:
        """Take fronts found by another procedure (e.g. the central-force structure step of
        :mod:`~physdistill.symbolic.central`) as this model's, in place of :meth:`distill`.

        Their expressions must use only :meth:`feature_columns`; the model's current weights
        and transforms are recorded as those the fronts belong to (as :meth:`distill` does).
        """
        feats = self.feature_columns()
        out: dict[int, ParetoFront] = {}
        for d, front in fronts.items():
            (dim,) = self._dims([d])
            if not isinstance(front, ParetoFront):
                raise PhysDistillError(f"output {d}: expected a ParetoFront, got "
                                       f"{type(front).__name__}")
            extra = sorted({str(v) for c in front.candidates
                            for v in c.expression.sympy().free_symbols} - set(feats))
            if extra:
                raise PhysDistillError(f"output {d}: the front uses {extra}, which are not "
                                       f"features of this model ({feats})")
            out[dim] = front
        self.fronts_ = out
        self.feature_names_ = feats
        self.distill_key_ = self._state_key()
        return self

    # --- SLIME -------------------------------------------------------------------------------

    def call_on_columns(self, Z: np.ndarray) -> np.ndarray:
        """Run the module on input rows ``Z (m, n_inputs)``; return outputs ``(m, n_outputs)``.

        Only for calls whose arguments are all tensors (positional, then keyword).
        """
        self._need_spec()
        args, kwargs, a = [], {}, 0
        param = next(iter(self.module.parameters()), None) if isinstance(
            self.module, nn.Module) else None
        device = param.device if param is not None else torch.device("cpu")
        dtype = param.dtype if param is not None else torch.get_default_dtype()
        for i, spec in enumerate(self.input_spec_):
            block = torch.as_tensor(Z[:, a:a + spec.width], dtype=dtype, device=device)
            a += spec.width
            t = block[:, 0] if spec.vector else block
            if spec.where.startswith("arg"):
                if spec.where != f"arg{len(args)}":
                    raise PhysDistillError("the module takes non-tensor positional arguments; "
                                           "SLIME can only rebuild all-tensor calls")
                args.append(t)
            else:
                kwargs[spec.where[3:]] = t
        self._suspend = True
        try:
            with torch.no_grad():
                out = self.module(*args, **kwargs)
        finally:
            self._suspend = False
        return torch.cat(flatten_output(out)[1], dim=1).detach().cpu().double().numpy()

    def slime(self, x0: Any, dim: int | str = 0, **kwargs: Any) -> ParetoFront:
        """A local equation of output ``dim`` around the input point ``x0`` (SLIME).

        Neighbours come from the recorded samples; synthetic points are labelled by the
        module. Features (transforms) are computed as in :meth:`distill`. Other keyword
        arguments go to :func:`physdistill.symbolic.local.slime`.
        """
        from physdistill.symbolic.local import slime

        if self._reservoir is None or self._reservoir.size == 0:
            raise PhysDistillError("no samples recorded: capture() some calls before slime()")
        (d,) = self._dims([dim])
        X = self._reservoir.data[:, : self.n_inputs]
        names = self.input_columns()
        tf = self._transform_exprs()
        feats = self.feature_columns()

        def features(Z: np.ndarray) -> np.ndarray:
            env = {n: Z[:, j] for j, n in enumerate(names)}
            for k, e in tf.items():
                env[k] = e.evaluate(env)
            return np.stack([env[f] for f in feats], axis=1)

        kwargs.setdefault("config", self._config())
        kwargs.setdefault("backend", self.backend)
        return slime(lambda Z: self.call_on_columns(Z)[:, d], X, x0, names=names,
                     features=features, feature_names=feats, **kwargs)

    # --- save / load -------------------------------------------------------------------------

    def save(self, path: str | Path, include_samples: bool = False) -> None:
        """Write weights, equations, fronts and settings to one safetensors file (no pickle).

        Args:
            path: the file.
            include_samples: also store the recorded samples (so that :meth:`distill` can run
                again after :meth:`load`).
        """
        save_state(path, model_state(self, include_samples))

    @classmethod
    def load(cls, path: str | Path, module: nn.Module | Callable) -> SymbolicModel:
        """Rebuild a wrapper saved by :meth:`save` around ``module`` (like
        ``load_state_dict``: you supply the module; its weights are loaded and checked).

        Raises:
            PhysDistillError: the file is not a SymbolicModel file, is corrupt, or its weights
                do not fit ``module`` (the message names the first mismatching tensor).
        """
        state = load_state(path)
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise PhysDistillError(f"{path} is not a SymbolicModel file")
        if state.get("version") != FORMAT_VERSION:
            raise PhysDistillError(f"{path} has SymbolicModel format version "
                                   f"{state.get('version')!r}; expected {FORMAT_VERSION}")
        try:
            return model_from_state(cls, state, module)
        except PhysDistillError:
            raise
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
            raise PhysDistillError(f"{path} is corrupt ({type(exc).__name__}: {exc})") from None
