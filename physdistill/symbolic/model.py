"""SymbolicModel: record a module's inputs and outputs, distil them into equations, and swap the
equations in for the module.

The wrapped object is any ``nn.Module`` (recorded with a forward hook, so it is recorded when a
parent model calls it directly, every time it is called) or any callable (recorded when it is
called through the wrapper). See :mod:`physdistill.symbolic.capture` for the column order.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from physdistill.errors import PhysDistillError
from physdistill.symbolic._parse import check_name, parse_expression
from physdistill.symbolic.backends import get_backend
from physdistill.symbolic.capture import (
    Reservoir,
    TensorSpec,
    flatten_call,
    flatten_output,
    lead_shape,
)
from physdistill.symbolic.config import SRConfig
from physdistill.symbolic.expr import Expression
from physdistill.symbolic.front import ParetoFront
from physdistill.symbolic.regress import regress_columns
from physdistill.symbolic.selection import DEFAULT_FACTOR

_CACHE_KEYS = 4


def _weights_key(module: Any) -> str:
    """sha256 of every parameter and buffer (name, dtype, shape, bytes)."""
    h = hashlib.sha256()
    if isinstance(module, nn.Module):
        for name, t in sorted(module.state_dict().items()):
            if not isinstance(t, torch.Tensor):
                continue
            t = t.detach().cpu().contiguous().reshape(-1)
            h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class SymbolicModel(nn.Module):
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

    # --- recording ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def capture(self) -> Iterator[SymbolicModel]:
        """Record every call of the module inside the ``with`` block.

        If the module's weights changed since the samples already held were recorded, those
        samples are dropped first (they describe a different function).
        """
        key = _weights_key(self.module)
        if self._reservoir is not None and self._samples_key != key:
            self.clear_samples()
        self._samples_key = key
        handle = None
        if isinstance(self.module, nn.Module):
            handle = self.module.register_forward_hook(self._record, with_kwargs=True)
        self._active += 1
        try:
            yield self
        finally:
            self._active -= 1
            if handle is not None:
                handle.remove()

    def clear_samples(self) -> None:
        """Forget the recorded samples (the call signature is kept)."""
        self._reservoir = None
        self._samples_key = None

    @property
    def n_samples(self) -> int:
        return 0 if self._reservoir is None else self._reservoir.size

    def _record(self, module, args, kwargs, output) -> None:
        if self._suspend:
            return
        in_specs, in_blocks = flatten_call(args, kwargs)
        out_specs, out_blocks = flatten_output(output)
        if not in_blocks:
            raise PhysDistillError("the recorded call has no floating-point tensor input")
        kind = "tensor" if isinstance(output, torch.Tensor) else type(output).__name__
        if self.input_spec_ is None:
            self.input_spec_, self.output_spec_, self.output_kind_ = in_specs, out_specs, kind
        elif in_specs != self.input_spec_ or out_specs != self.output_spec_:
            raise PhysDistillError(
                f"this call's tensors {[s.to_list() for s in in_specs + out_specs]} differ from "
                f"the earlier calls' {[s.to_list() for s in self.input_spec_ + self.output_spec_]}"
                "; record one call signature per SymbolicModel (clear_samples() does not reset "
                "it; make a new SymbolicModel)")
        if self._reservoir is None:
            self._reservoir = Reservoir(self.max_samples, self.seed)
        self._reservoir.add(in_blocks + out_blocks)

    # --- names -------------------------------------------------------------------------------

    def _need_spec(self) -> None:
        if self.input_spec_ is None:
            raise PhysDistillError("no call recorded yet: run the model inside "
                                   "`with symbolic_model.capture():` first")

    @property
    def n_inputs(self) -> int:
        self._need_spec()
        return sum(s.width for s in self.input_spec_)

    @property
    def n_outputs(self) -> int:
        self._need_spec()
        return sum(s.width for s in self.output_spec_)

    def _names(self, given, n: int, prefix: str, what: str) -> list[str]:
        if given is None:
            return [f"{prefix}{i}" for i in range(n)]
        names = [check_name(v, f"{what} name") for v in given]
        if len(names) != n or len(set(names)) != n:
            spec = self.input_spec_ if what == "input" else self.output_spec_
            raise PhysDistillError(
                f"{what}_names has {len(names)} names {names} but the recorded calls have {n} "
                f"{what} columns ({', '.join(f'{s.where}: {s.width}' for s in spec)}); give "
                f"{n} unique names")
        return names

    def input_columns(self) -> list[str]:
        return self._names(self.input_names, self.n_inputs, "x", "input")

    def output_columns(self) -> list[str]:
        return self._names(self.output_names, self.n_outputs, "y", "output")

    def _transform_exprs(self) -> dict[str, Expression]:
        inputs = self.input_columns()
        if self.transforms is None:
            return {}
        if not isinstance(self.transforms, Mapping):
            raise PhysDistillError("transforms must be a mapping name -> formula text, e.g. "
                                   "{'r': 'sqrt(dx**2 + dy**2)'}")
        out = {}
        for name, formula in self.transforms.items():
            check_name(name, "transform name")
            if name in inputs:
                raise PhysDistillError(f"transform {name!r} has the name of an input; rename it")
            if not isinstance(formula, str):
                raise PhysDistillError(
                    f"transform {name!r} is a {type(formula).__name__}; write it as a formula "
                    "of the input names, e.g. 'sqrt(dx**2 + dy**2)' (a function cannot be "
                    "saved or compared, a formula can)")
            out[name] = Expression(parse_expression(formula, inputs,
                                                    what=f"transform {name!r}"))
        return out

    def feature_columns(self) -> list[str]:
        base = self.input_columns() + list(self._transform_exprs())
        if self.features is None:
            return base
        feats = list(self.features)
        unknown = [f for f in feats if f not in base]
        if unknown or not feats or len(set(feats)) != len(feats):
            raise PhysDistillError(f"features {feats} must be unique names among the inputs "
                                   f"and transforms {base}")
        return feats

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

    # --- switching ---------------------------------------------------------------------------

    def _check_distilled(self) -> None:
        if not getattr(self, "fronts_", None):
            raise PhysDistillError("this SymbolicModel is not distilled yet; call distill() "
                                   "first")

    def switch_to_symbolic(self, complexity: int | Mapping[Any, Any] | None = None, *,
                           rule: str | None = None, trainable: bool = False) -> SymbolicModel:
        """Evaluate equations instead of the module in :meth:`forward`.

        Args:
            complexity: ``None`` (each front's chosen candidate, or ``rule``), one complexity
                for every dimension, or a mapping ``dim -> complexity or rule name``.
                Dimensions without a front keep the module's output.
            rule: a selection rule for the dimensions not given in ``complexity``.
            trainable: make the equations' constants trainable parameters.

        Raises:
            PhysDistillError: not distilled, or the weights/transforms changed since
                :meth:`distill` (the equations would be stale).
        """
        self._check_distilled()
        if self._state_key() != self.distill_key_:
            raise PhysDistillError("the module's weights or the transforms changed since "
                                   "distill(); the equations are stale: record new samples and "
                                   "call distill() again")
        choice: dict[int, Any] = {}
        if isinstance(complexity, Mapping):
            for k, v in complexity.items():
                (d,) = self._dims([k])
                choice[d] = v
        elif complexity is not None:
            choice = {d: complexity for d in self.fronts_}
        equations = {}
        for d, front in self.fronts_.items():
            c = choice.get(d)
            try:
                if isinstance(c, str):
                    cand = front.candidates[front.index(c, factor=self.factor)]
                elif c is not None:
                    cand = front.at_complexity(c)
                elif rule is not None:
                    cand = front.candidates[front.index(rule, factor=self.factor)]
                else:
                    cand = front.chosen
            except PhysDistillError as exc:
                raise PhysDistillError(f"output {d}: {exc}") from None
            equations[d] = cand.expression
        self._install(equations, trainable)
        return self

    def _install(self, equations: Mapping[int, Expression], trainable: bool) -> None:
        self.equations_ = dict(equations)
        self.equation_modules_ = nn.ModuleDict(
            {str(d): e.torch(trainable=trainable) for d, e in self.equations_.items()})
        self.transform_modules_ = nn.ModuleDict(
            {k: e.torch() for k, e in self._transform_exprs().items()})
        self.mode_ = "symbolic"

    def switch_to_neural(self) -> SymbolicModel:
        """Run the module again in :meth:`forward` (the equations are kept)."""
        self.mode_ = "neural"
        return self

    # --- forward -----------------------------------------------------------------------------

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.mode_ == "symbolic":
            return self._symbolic(args, kwargs)
        out = self.module(*args, **kwargs)
        if not isinstance(self.module, nn.Module) and self._active:
            self._record(None, args, kwargs, out)
        return out

    def _symbolic(self, args, kwargs) -> Any:
        specs, blocks = flatten_call(args, kwargs)
        if specs != self.input_spec_:
            raise PhysDistillError(f"this call's inputs {[s.to_list() for s in specs]} differ "
                                   f"from the recorded ones "
                                   f"{[s.to_list() for s in self.input_spec_]}")
        X = torch.cat(blocks, dim=1) if len(blocks) > 1 else blocks[0]
        self._move_to(X.device)
        env = {n: X[:, j] for j, n in enumerate(self.input_columns())}
        for name, mod in self.transform_modules_.items():
            env[name] = mod(env)
        cols, neural = [], None
        for d in range(self.n_outputs):
            mod = self.equation_modules_[str(d)] if str(d) in self.equation_modules_ else None
            if mod is not None:
                cols.append(mod(env))
                continue
            if neural is None:
                self._suspend = True
                try:
                    neural = torch.cat(flatten_output(self.module(*args, **kwargs))[1], dim=1)
                finally:
                    self._suspend = False
            cols.append(neural[:, d])
        dtype = X.dtype if X.is_floating_point() else torch.get_default_dtype()
        Y = torch.stack([c.to(dtype) for c in cols], dim=1)
        lead = lead_shape(args, kwargs)
        outs, a = [], 0
        for spec in self.output_spec_:
            block = Y[:, a:a + spec.width]
            a += spec.width
            outs.append(block.reshape(lead) if spec.vector else block.reshape(*lead, spec.width))
        if self.output_kind_ == "tensor":
            return outs[0]
        return list(outs) if self.output_kind_ == "list" else tuple(outs)

    def _move_to(self, device: torch.device) -> None:
        for mods in (self.equation_modules_, self.transform_modules_):
            for m in mods.values():
                if m.constants.device != device:
                    m.to(device)

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
        from physdistill._io import save_state
        from physdistill.symbolic.persist import model_state

        save_state(path, model_state(self, include_samples))

    @classmethod
    def load(cls, path: str | Path, module: nn.Module | Callable) -> SymbolicModel:
        """Rebuild a wrapper saved by :meth:`save` around ``module`` (like
        ``load_state_dict``: you supply the module; its weights are loaded and checked).

        Raises:
            PhysDistillError: the file is not a SymbolicModel file, is corrupt, or its weights
                do not fit ``module`` (the message names the first mismatching tensor).
        """
        from physdistill._io import load_state
        from physdistill.symbolic.persist import FORMAT, FORMAT_VERSION, model_from_state

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
