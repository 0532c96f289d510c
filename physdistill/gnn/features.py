r"""Named edge features: what the equations of a message are written in.

A message :math:`\mathbf m_{ij} = \phi(\mathbf x_i, \mathbf x_j, \mathbf e_{ij})` is distilled
into equations of a few named scalars per edge, e.g. ``dx = pos_i - pos_j`` or a spring
constant stored in ``edge_attr``. Each feature is one of:

- a **callable** of the layer's ``message()`` arguments, bound by parameter name (``x_i``,
  ``x_j``, ``edge_attr``, ``pos_i``, ...; a ``**kwargs`` parameter receives them all), returning
  one value per edge, shape ``[E]``; written in torch, so the same function serves the recorded
  edges (float64, CPU) and the switched layer (any device, with autograd);
- a **formula** (text, read by the safe parser) of features defined before it, e.g.
  ``"sqrt(dx**2 + dy**2)"``: a *derived* feature, which the known-law comparison recomputes
  from the others instead of sampling it on its own.

Helpers build the common ones: :func:`column` (one column of one argument) and
:func:`displacement` (``dx, dy, [dz]`` and the distance ``r``).

Example:
    >>> feats = {**displacement(2), "k": column("edge_attr", 0)}
    >>> sorted(feats)
    ['dx', 'dy', 'k', 'r']
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy
import torch

from physdistill.errors import PhysDistillError
from physdistill.symbolic._parse import check_name, parse_expression
from physdistill.symbolic.expr import Expression

FeatureSpec = Callable[..., torch.Tensor] | str


def _col(t: torch.Tensor, index: int, arg: str) -> torch.Tensor:
    if t.dim() == 1:
        if index != 0:
            raise PhysDistillError(f"{arg} has one value per edge; column {index} does not exist")
        return t
    if not -t.shape[1] <= index < t.shape[1]:
        raise PhysDistillError(f"{arg} has {t.shape[1]} columns; column {index} does not exist")
    return t[:, index]


@dataclass(frozen=True)
class Column:
    """The feature ``arg[:, index]`` (``arg`` a ``message()`` argument such as ``x_j``)."""

    arg: str
    index: int

    def __call__(self, **args: torch.Tensor) -> torch.Tensor:
        return _col(args[self.arg], self.index, self.arg)


@dataclass(frozen=True)
class Difference:
    """The feature ``first[:, index] - second[:, index]`` (e.g. receiver minus sender)."""

    first: str
    second: str
    index: int

    def __call__(self, **args: torch.Tensor) -> torch.Tensor:
        return _col(args[self.first], self.index, self.first) - \
            _col(args[self.second], self.index, self.second)


def column(arg: str, index: int) -> Column:
    """The feature ``arg[:, index]``, e.g. ``column("edge_attr", 0)`` or
    ``column("x_j", 4)`` (the sender's fifth node feature)."""
    if not isinstance(arg, str) or isinstance(index, bool) or not isinstance(index, int):
        raise PhysDistillError(f"column(arg, index) takes a message argument name and an "
                               f"integer, got {arg!r}, {index!r}")
    return Column(arg, index)


def displacement(dim: int = 2, *, start: int = 0, names: Sequence[str] | None = None,
                 distance: str | None = "r", receiver: str = "x_i", sender: str = "x_j"
                 ) -> dict[str, FeatureSpec]:
    """``dx = receiver[:, start] - sender[:, start]``, ``dy``, [``dz``] and ``r = |d|``.

    Args:
        dim: number of position columns (1 to 3).
        start: column of the first position coordinate in ``receiver`` / ``sender``.
        names: the component names (default ``dx, dy, dz``).
        distance: the name of the distance feature (a formula of the components), or
            ``None`` for none.
        receiver, sender: the ``message()`` arguments holding the positions (``x_i``/``x_j``,
            or ``pos_i``/``pos_j`` for layers that pass positions separately).
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= 3:
        raise PhysDistillError(f"displacement dim must be 1, 2 or 3, got {dim!r}")
    names = list(names) if names is not None else ["dx", "dy", "dz"][:dim]
    if len(names) != dim:
        raise PhysDistillError(f"displacement needs {dim} names, got {names}")
    out: dict[str, FeatureSpec] = {n: Difference(receiver, sender, start + a)
                                   for a, n in enumerate(names)}
    if distance is not None:
        out[distance] = "sqrt(" + " + ".join(f"{n}**2" for n in names) + ")"
    return out


def _binder(name: str, fn: Callable) -> tuple[tuple[str, ...], bool]:
    """The ``message()`` arguments ``fn`` asks for by name, and whether it takes ``**kwargs``."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        raise PhysDistillError(f"feature {name!r}: cannot read the parameters of {fn!r}; use a "
                               "function whose parameters are message() argument names, e.g. "
                               "lambda x_i, x_j: x_i[:, 0] - x_j[:, 0]") from None
    wanted, var_kw = [], False
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind is p.VAR_POSITIONAL or p.kind is p.POSITIONAL_ONLY:
            raise PhysDistillError(f"feature {name!r}: parameter {p.name!r} cannot be passed by "
                                   "name; features receive message() arguments by name")
        elif p.default is p.empty:
            wanted.append(p.name)
    return tuple(wanted), var_kw


class FeatureSet:
    """Checked features (see the module docstring): names, how to compute them, which are
    derived.

    Args:
        features: mapping name -> callable or formula, in order (a formula may use the names
            before it).
    """

    def __init__(self, features: Mapping[str, FeatureSpec]) -> None:
        if not isinstance(features, Mapping) or not features:
            raise PhysDistillError("features must be a non-empty mapping name -> callable of the "
                                   "message() arguments (or formula text), e.g. "
                                   "{**displacement(2), 'k': column('edge_attr', 0)}")
        self.callables: dict[str, tuple[Callable, tuple[str, ...], bool]] = {}
        self.formulas: dict[str, Expression] = {}
        self.names: list[str] = []
        for name, spec in features.items():
            check_name(name, "feature name")
            if isinstance(spec, str):
                if not self.names:
                    raise PhysDistillError(f"formula feature {name!r} comes first; a formula is "
                                           "written in the features defined before it")
                self.formulas[name] = Expression(parse_expression(
                    spec, list(self.names), what=f"feature {name!r}"), list(self.names))
            elif callable(spec):
                self.callables[name] = (spec, *_binder(name, spec))
            else:
                raise PhysDistillError(f"feature {name!r} is a {type(spec).__name__}; expected "
                                       "a callable of the message() arguments or formula text")
            self.names.append(name)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    @property
    def derived(self) -> dict[str, str]:
        """Formula features written in the callable features only (for ``compare``'s
        ``derived``; formulas of other formulas are substituted)."""
        out: dict[str, str] = {}
        subs: dict[Any, Any] = {}
        for name, e in self.formulas.items():
            expr = e.sympy().xreplace(subs)
            subs[sympy.Symbol(name)] = expr
            out[name] = str(expr)
        return out

    def check_arguments(self, available: Sequence[str]) -> None:
        """Refuse a feature that asks for an argument ``message()`` does not receive."""
        for name, (_, wanted, _) in self.callables.items():
            missing = [a for a in wanted if a not in available]
            if missing:
                raise PhysDistillError(f"feature {name!r} asks for {missing}, but the layer's "
                                       f"message() receives {list(available)}; name the "
                                       "function's parameters after those")

    def compute(self, args: Mapping[str, torch.Tensor], n_edges: int,
                formulas: Mapping[str, Callable] | None = None) -> dict[str, torch.Tensor]:
        """Every feature on ``n_edges`` edges from the ``message()`` arguments ``args``
        (torch, differentiable); ``formulas`` evaluate the formula features (default:
        their :class:`~physdistill.symbolic.TorchExpression` on the fly)."""
        env: dict[str, torch.Tensor] = {}
        for name in self.names:
            if name in self.callables:
                fn, wanted, var_kw = self.callables[name]
                kw = dict(args) if var_kw else {a: args[a] for a in wanted if a in args}
                try:
                    out = fn(**kw)
                except PhysDistillError:
                    raise
                except (RuntimeError, IndexError, KeyError, TypeError, ValueError) as exc:
                    raise PhysDistillError(f"feature {name!r} failed on the message() "
                                           f"arguments: {type(exc).__name__}: {exc}") from None
            else:
                mod = formulas[name] if formulas is not None else self.formulas[name].torch()
                out = mod(env)
            if not isinstance(out, torch.Tensor):
                raise PhysDistillError(f"feature {name!r} returned a {type(out).__name__}; "
                                       f"expected a tensor of shape ({n_edges},)")
            if out.dim() == 2 and out.shape[1] == 1:
                out = out[:, 0]
            if tuple(out.shape) != (n_edges,):
                raise PhysDistillError(f"feature {name!r} returned shape {tuple(out.shape)}; "
                                       f"expected ({n_edges},), one value per edge (index one "
                                       "column, e.g. x_i[:, 0])")
            env[name] = out
        return env

    def numpy(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every feature on recorded edges (``inputs``: argument -> ``[E, w]``), float64."""
        args = {k: torch.from_numpy(np.ascontiguousarray(v, np.float64)) for k, v in
                inputs.items()}
        n = next(iter(args.values())).shape[0]
        with torch.no_grad():
            env = self.compute(args, n)
        out = {k: v.double().cpu().numpy() for k, v in env.items()}
        for k, v in out.items():
            bad = ~np.isfinite(v)
            if bad.any():
                raise PhysDistillError(f"feature {k!r} is NaN or infinite on {int(bad.sum())} "
                                       f"of {n} recorded edges; check its definition (e.g. a "
                                       "division by a zero distance on self-loops)")
        return out
