"""Symbolic-regression engines behind one small interface.

A backend subclasses :class:`SRBackend` and implements one method, :meth:`SRBackend._search`,
which runs the engine and returns candidate expressions (text or sympy). The base class does
the rest: it checks the operators, resamples the data when the engine cannot take sample
weights, and turns every candidate into a validated :class:`~physdistill.symbolic.expr.Expression`
(text through the safe parser, sympy through the whitelist; nothing is ``eval``-ed).

Backends are found by name in a registry (:func:`get_backend`, :func:`register_backend`):

* ``"operon"`` (default): pyoperon, offline, C++, multithreaded.
* ``"pysr"``: PySR, an optional extra (``pip install physdistill[pysr]``) that needs Julia.
  It is imported only when a search runs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import sympy

from physdistill.errors import PhysDistillError
from physdistill.symbolic.config import OPERATORS, SRConfig, did_you_mean
from physdistill.symbolic.expr import SYMPY_LOCK, Expression
from physdistill.symbolic.operators import engine_spelling


class SRBackend:
    """Base class of symbolic-regression engines.

    Subclasses set :attr:`name` and :attr:`operator_map`, and implement :meth:`_search`.

    Attributes:
        name: registry name.
        operator_map: our operator name -> the engine's name(s) for it.
        native_weights: the engine accepts sample weights; otherwise :meth:`search` passes it
            a weighted resample of the rows (weights are still used after the search, when
            constants are re-fitted and losses computed).
        parallel_safe: independent searches may run at once in threads of one process.
    """

    name: ClassVar[str] = ""
    operator_map: ClassVar[Mapping[str, Any]] = {}
    native_weights: ClassVar[bool] = False
    parallel_safe: ClassVar[bool] = False

    def _search(self, X: np.ndarray, y: np.ndarray, names: Sequence[str], config: SRConfig,
                sample_weight: np.ndarray | None) -> Iterable[str | sympy.Expr]:
        """Run the engine; return candidate expressions over ``names`` (the engine's front).

        Args:
            X: inputs, float64, shape ``(n, d)``; column ``j`` is ``names[j]``.
            y: targets, float64, shape ``(n,)``.
            names: variable names (identifiers).
            config: budget and operators (already checked against :attr:`operator_map`).
            sample_weight: shape ``(n,)`` or ``None``; only given if :attr:`native_weights`.
        """
        raise NotImplementedError

    def search(self, X: np.ndarray, y: np.ndarray, names: Sequence[str], config: SRConfig,
               sample_weight: np.ndarray | None = None) -> list[Expression]:
        """Run a search and return the candidates as validated expressions."""
        missing = [o for o in config.operators if o not in self.operator_map]
        if missing:
            raise PhysDistillError(
                f"the {self.name!r} backend cannot use the operators {missing}; it supports "
                f"{sorted(self.operator_map)}")
        if sample_weight is not None and not self.native_weights:
            rng = np.random.default_rng(config.seed)
            p = sample_weight / sample_weight.sum()
            idx = rng.choice(len(y), size=len(y), replace=True, p=p)
            X, y, sample_weight = X[idx], y[idx], None
        raw = list(self._search(X, y, list(names), config, sample_weight))
        out: list[Expression] = []
        rejected: list[str] = []
        with SYMPY_LOCK:
            for item in raw:
                try:
                    out.append(Expression(item, names))
                except PhysDistillError as exc:
                    rejected.append(f"{str(item)[:60]} ({exc})")
        if rejected:
            warnings.warn(f"{self.name}: skipped {len(rejected)} candidate(s) that are not "
                          f"supported expressions, e.g. {rejected[0]}", stacklevel=3)
        if not out:
            raise PhysDistillError(f"the {self.name!r} search returned no usable expression; "
                                   "give it a larger budget or more operators")
        return out


# ---------------------------------------------------------------------------------------------
# pyoperon


class OperonBackend(SRBackend):
    """pyoperon (``pyoperon.sklearn.SymbolicRegressor``), the offline default.

    Settings: an NSGA-II search on the two objectives R^2 and tree length (its final
    non-dominated front is returned), Levenberg-Marquardt constant fitting of every individual
    (``optimizer_iterations = config.constant_iterations``), ``n_threads = config.threads``,
    ``random_state = config.seed``, ``max_time``/``max_evaluations``/``generations`` from the
    config. Runs are reproducible for a seed when the clock does not end them (checked with
    1 and 2 threads).

    Operators: ``inv`` is written ``c / x`` with operon's division; operon has no cube, so
    ``cube`` enables ``square`` (a cube is then ``x * square(x)``). pyoperon 0.6.2 has no
    sample weights: the base class resamples rows by weight.
    """

    name = "operon"
    native_weights = False
    parallel_safe = True  # the C++ search releases the GIL
    operator_map: ClassVar[Mapping[str, Any]] = engine_spelling("operon")

    @classmethod
    def allowed_symbols(cls, operators: Sequence[str]) -> str:
        syms: list[str] = []
        for op in operators:
            for s in cls.operator_map[op]:
                if s not in syms:
                    syms.append(s)
        return ",".join(syms + ["constant", "variable"])

    @classmethod
    def regressor_kwargs(cls, config: SRConfig) -> dict:
        """Keyword arguments of ``pyoperon.sklearn.SymbolicRegressor`` for ``config``."""
        kw = dict(
            allowed_symbols=cls.allowed_symbols(config.operators),
            objectives=["r2", "length"],
            optimizer="lm",
            optimizer_iterations=config.constant_iterations,
            max_length=config.max_length,
            population_size=config.population_size,
            generations=config.generations,
            max_evaluations=config.max_evaluations,
            n_threads=config.threads,
            random_state=config.seed,
        )
        if config.time_limit_s is not None:
            kw["max_time"] = max(1, math.ceil(config.time_limit_s))
        return kw

    def _search(self, X, y, names, config, sample_weight):
        try:
            from pyoperon.sklearn import SymbolicRegressor
        except ImportError as exc:
            raise PhysDistillError(f"the 'operon' backend needs pyoperon ({exc}); install it "
                                   "with: pip install 'pyoperon>=0.6.2,<0.7'") from None
        reg = SymbolicRegressor(**self.regressor_kwargs(config))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Model contains no variables"
            reg.fit(X, y)
            return [reg.get_model_string(entry["tree"], 12, list(names))
                    for entry in reg.pareto_front_]


# ---------------------------------------------------------------------------------------------
# PySR

PYSR_INSTALL = ("the 'pysr' backend needs the optional extra: pip install physdistill[pysr] "
                "(PySR then installs Julia on its first import)")


class PySRBackend(SRBackend):
    """PySR, an optional extra. ``import pysr`` (which starts Julia) happens inside
    :meth:`_search` only.

    Mapped settings: ``maxsize``, ``niterations`` (= generations), ``max_evals``,
    ``timeout_in_seconds``, ``optimizer_iterations``; populations keep PySR's defaults.
    Operators: ``+ - * /`` and ``pow`` (PySR's ``^``) are binary; ``sin cos exp log sqrt inv
    square cube`` are unary. Sample weights are passed to PySR. With a seed the search runs
    ``deterministic=True, parallelism="serial"`` (PySR's requirement for reproducibility);
    without one it is multithreaded with ``procs = config.threads``.

    Args:
        **pysr_kwargs: extra keyword arguments for ``pysr.PySRRegressor`` (they override ours).
    """

    name = "pysr"
    native_weights = True
    parallel_safe = False
    operator_map: ClassVar[Mapping[str, Any]] = engine_spelling("pysr")

    def __init__(self, **pysr_kwargs: Any):
        self.pysr_kwargs = pysr_kwargs

    @classmethod
    def regressor_kwargs(cls, config: SRConfig) -> dict:
        """Keyword arguments of ``pysr.PySRRegressor`` for ``config`` (no Julia needed)."""
        binary = [cls.operator_map[o][1] for o in config.operators
                  if cls.operator_map[o][0] == "binary"]
        unary = [cls.operator_map[o][1] for o in config.operators
                 if cls.operator_map[o][0] == "unary"]
        kw: dict[str, Any] = dict(
            binary_operators=binary,
            unary_operators=unary,
            maxsize=config.max_length,
            niterations=config.generations,
            max_evals=config.max_evaluations,
            optimizer_iterations=config.constant_iterations,
            progress=False,
            verbosity=0,
        )
        if config.time_limit_s is not None:
            kw["timeout_in_seconds"] = float(config.time_limit_s)
        if config.seed is not None:
            kw.update(random_state=config.seed, deterministic=True, parallelism="serial")
        else:
            kw.update(parallelism="multithreading", procs=config.threads)
        return kw

    @staticmethod
    def candidates_from_equations(equations: Any) -> list[str | sympy.Expr]:
        """Candidates from PySR's ``equations_`` table (a DataFrame or a list of dicts).

        Each row gives its ``sympy_format`` when that is a sympy expression (it is then checked
        against the whitelist), else its ``equation`` text (read by the safe parser).
        """
        if hasattr(equations, "to_dict"):
            rows = equations.to_dict("records")
        else:
            rows = list(equations)
        out: list[str | sympy.Expr] = []
        for row in rows:
            sym = row.get("sympy_format") if isinstance(row, Mapping) else None
            if isinstance(sym, sympy.Basic):
                out.append(sym)
            elif isinstance(row, Mapping) and isinstance(row.get("equation"), str):
                out.append(row["equation"])
        return out

    def _search(self, X, y, names, config, sample_weight):
        pysr = import_pysr()
        kw = self.regressor_kwargs(config)
        kw.update(self.pysr_kwargs)
        model = pysr.PySRRegressor(**kw)
        fit_kw: dict[str, Any] = {"variable_names": list(names)}
        if sample_weight is not None:
            fit_kw["weights"] = sample_weight
        model.fit(X, y, **fit_kw)
        return self.candidates_from_equations(model.equations_)


def import_pysr():
    """Import PySR (starting Julia) or raise a PhysDistillError saying how to install it."""
    try:
        import pysr
    except ImportError as exc:
        raise PhysDistillError(f"{PYSR_INSTALL}; import failed: {exc}") from None
    except Exception as exc:  # Julia failed to start (juliacall raises its own types)
        raise PhysDistillError(f"PySR is installed but Julia could not start "
                               f"({type(exc).__name__}: {str(exc)[:200]}); check the Julia "
                               f"install, or reinstall with: pip install physdistill[pysr]"
                               ) from None
    return pysr


# ---------------------------------------------------------------------------------------------
# registry

_REGISTRY: dict[str, type[SRBackend]] = {"operon": OperonBackend, "pysr": PySRBackend}


def register_backend(cls: type[SRBackend]) -> type[SRBackend]:
    """Add a backend class to the registry under ``cls.name`` (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, SRBackend)) or not cls.name:
        raise PhysDistillError(f"expected an SRBackend subclass with a name, got {cls!r}")
    unknown = [o for o in cls.operator_map if o not in OPERATORS]
    if unknown:
        raise PhysDistillError(f"backend {cls.name!r} maps unknown operators {unknown}")
    _REGISTRY[cls.name] = cls
    return cls


def available_backends() -> list[str]:
    return sorted(_REGISTRY)


def get_backend(backend: str | SRBackend) -> SRBackend:
    """A backend instance from a registry name (or the instance itself)."""
    if isinstance(backend, SRBackend):
        return backend
    if isinstance(backend, str) and backend in _REGISTRY:
        return _REGISTRY[backend]()
    raise PhysDistillError(f"unknown SR backend {backend!r}; expected one of "
                           f"{available_backends()}.{did_you_mean(backend, _REGISTRY)}")
