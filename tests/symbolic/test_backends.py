"""SR backends: one contract for every backend, the operon settings, and PySR's translation
layer (tested without Julia: a fake ``pysr`` module stands in for the engine, the recovery
tests elsewhere use the real pyoperon)."""

from __future__ import annotations

import importlib.util
import sys
import types

import numpy as np
import pytest
import sympy

from physdistill.errors import PhysDistillError
from physdistill.symbolic import (
    OPERATORS,
    Expression,
    OperonBackend,
    PySRBackend,
    SRConfig,
    available_backends,
    get_backend,
    regress,
)
from physdistill.symbolic import backends as backends_mod

from .conftest import LeastSquaresBackend


def _backend_params():
    out = []
    for name in available_backends():
        marks = []
        if name == "pysr" and importlib.util.find_spec("pysr") is None:
            marks = [pytest.mark.skip(reason="pysr is not installed (optional extra)")]
        out.append(pytest.param(name, marks=marks, id=name))
    out.append(pytest.param(LeastSquaresBackend(), id="custom-lstsq"))
    return out


@pytest.mark.parametrize("backend", _backend_params())
def test_backend_contract(backend, fast_config):
    """Every backend: validated expressions over the given names, a proper front, a linear law
    recovered, sample weights accepted, unknown operators refused before searching."""
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (200, 2))
    y = 2.0 * X[:, 0] - 0.5 * X[:, 1] + 1.0
    engine = get_backend(backend)
    found = engine.search(X, y, ["p", "q"], fast_config)
    assert found and all(isinstance(e, Expression) and e.variables == ("p", "q") for e in found)
    front = regress(X, y, ["p", "q"], config=fast_config, backend=backend,
                    sample_weight=rng.uniform(0.5, 1.5, 200))
    comps = front.complexities
    losses = [c.loss for c in front.candidates]
    assert comps == sorted(comps) and all(a > b for a, b in zip(losses, losses[1:]))
    assert 0 <= front.chosen_index < len(front)
    assert front.backend == engine.name
    e = front.expression
    assert sympy.simplify(e.rounded(4) - (2 * sympy.Symbol("p") - sympy.Symbol("q") / 2 + 1)) == 0
    unsupported = [o for o in OPERATORS if o not in engine.operator_map]
    if unsupported:
        with pytest.raises(PhysDistillError, match="cannot use the operators"):
            engine.search(X, y, ["p", "q"], fast_config.replace(
                operators=("+", "*", unsupported[0])))


def test_operon_is_configured_properly():
    cfg = SRConfig(operators=("+", "-", "*", "/", "sin", "exp", "inv", "cube"),
                   constant_iterations=7, seed=5, n_threads=3, time_limit_s=2.5)
    kw = OperonBackend.regressor_kwargs(cfg)
    assert kw["optimizer_iterations"] == 7 >= 1  # pyoperon's default 0 fits no constants
    assert kw["objectives"] == ["r2", "length"]
    assert kw["n_threads"] == 3 and kw["random_state"] == 5 and kw["max_time"] == 3
    assert kw["allowed_symbols"] == "add,sub,mul,div,sin,exp,square,constant,variable"
    assert OperonBackend.regressor_kwargs(SRConfig())["n_threads"] == SRConfig().threads >= 1
    from pyoperon.sklearn import SymbolicRegressor

    SymbolicRegressor(**kw)  # every name is a real constructor parameter


def test_operon_is_reproducible_for_a_seed(X3, fast_config):
    y = X3[:, 0] * np.exp(-X3[:, 1])
    runs = [regress(X3, y, operators=("+", "-", "*", "/", "exp"), config=fast_config, seed=7)
            for _ in range(2)]
    assert [str(c.expression) for c in runs[0]] == [str(c.expression) for c in runs[1]]
    assert [c.loss for c in runs[0]] == [c.loss for c in runs[1]]


# --- PySR, without Julia ---------------------------------------------------------------------


def test_pysr_operator_and_option_translation():
    cfg = SRConfig(operators=("+", "-", "*", "/", "pow", "sin", "log", "inv", "square", "cube"),
                   max_length=20, generations=40, seed=3, time_limit_s=60)
    kw = PySRBackend.regressor_kwargs(cfg)
    assert kw["binary_operators"] == ["+", "-", "*", "/", "^"]
    assert kw["unary_operators"] == ["sin", "log", "inv", "square", "cube"]
    assert kw["maxsize"] == 20 and kw["niterations"] == 40 and kw["timeout_in_seconds"] == 60
    assert kw["random_state"] == 3 and kw["deterministic"] is True
    assert kw["parallelism"] == "serial"
    kw = PySRBackend.regressor_kwargs(cfg.replace(seed=None, n_threads=2))
    assert kw["parallelism"] == "multithreading" and kw["procs"] == 2
    assert "random_state" not in kw


class _Table:
    """Stands in for PySR's ``equations_`` DataFrame."""

    def __init__(self, rows):
        self.rows = rows

    def to_dict(self, orient):
        assert orient == "records"
        return list(self.rows)


def _fake_pysr(rows, seen):
    class PySRRegressor:
        def __init__(self, **kw):
            seen["init"] = kw

        def fit(self, X, y, **kw):
            seen["fit"] = kw
            self.equations_ = _Table(rows)
            return self

    return types.SimpleNamespace(PySRRegressor=PySRRegressor)


def test_pysr_output_becomes_validated_expressions(monkeypatch):
    x0, x1, x2 = sympy.symbols("x0 x1 x2")
    rows = [
        {"complexity": 1, "loss": 2.0, "equation": "1.3", "sympy_format": sympy.Float(1.3)},
        {"complexity": 7, "loss": 1e-14, "equation": "(x0 * x1) / square(x2)",
         "sympy_format": x0 * x1 / x2**2},
        {"complexity": 8, "loss": 1e-14, "equation": "square(x1) + inv(x2) - cube(x0)"},
        {"complexity": 9, "loss": 0.1, "equation": "gamma(x0)", "sympy_format": sympy.gamma(x0)},
        {"complexity": 9, "loss": 0.1, "equation": "__import__('os').system('x')"},
    ]
    seen: dict = {}
    monkeypatch.setattr(backends_mod, "import_pysr", lambda: _fake_pysr(rows, seen))
    X = np.ones((5, 3))
    with pytest.warns(UserWarning, match="skipped 2 candidate"):
        found = PySRBackend(populations=4).search(X, np.ones(5), ["x0", "x1", "x2"], SRConfig(),
                                                  sample_weight=np.ones(5))
    assert [str(e) for e in found] == ["1.3", "x0*x1/x2**2", "-x0**3 + x1**2 + 1/x2"]
    assert seen["init"]["populations"] == 4  # user options pass through
    assert seen["fit"]["variable_names"] == ["x0", "x1", "x2"]
    assert np.array_equal(seen["fit"]["weights"], np.ones(5))  # native weights


def test_missing_pysr_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pysr", None)  # makes `import pysr` fail
    X = np.random.default_rng(0).uniform(size=(20, 2))
    with pytest.raises(PhysDistillError, match=r"pip install physdistill\[pysr\]"):
        regress(X, X[:, 0], backend="pysr")


def test_julia_failure_is_reported(monkeypatch, tmp_path):
    pkg = tmp_path / "pysr"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise RuntimeError('Julia could not be initialised')\n")
    monkeypatch.delitem(sys.modules, "pysr", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PhysDistillError, match="Julia could not start.*physdistill\\[pysr\\]"):
        backends_mod.import_pysr()
    sys.modules.pop("pysr", None)


def test_registry_and_config_errors():
    with pytest.raises(PhysDistillError, match="Did you mean 'operon'"):
        get_backend("operan")
    with pytest.raises(PhysDistillError, match="Did you mean 'sin'"):
        SRConfig(operators=("+", "*", "sinn"))
    with pytest.raises(PhysDistillError, match="Did you mean 'time_limit_s'"):
        SRConfig().replace(time_limit=3)
    with pytest.raises(PhysDistillError, match="must include"):
        SRConfig(operators=("sin",))
    with pytest.raises(PhysDistillError, match="constant_iterations"):
        SRConfig(constant_iterations=0)
    assert SRConfig(operators=("sin", "*", "+", "sin")).operators == ("+", "*", "sin")
    assert SRConfig.from_dict(SRConfig(seed=4).to_dict()) == SRConfig(seed=4)
