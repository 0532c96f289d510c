"""Expression: display, evaluation, complexity, and the JSON tree (incl. hostile files)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import sympy

from physdistill.errors import PhysDistillError
from physdistill.symbolic import Expression
from physdistill.symbolic.sympy_tools import complexity, round_constants, tidy


def test_text_latex_and_rounding():
    e = Expression("2.50000031*sin(x0) + 1.0000002*x1**2.0000001", ["x0", "x1"])
    assert str(e) == "x1**2 + 2.5*sin(x0)"
    assert e.latex() == r"x_{1}^{2} + 2.5 \sin{\left(x_{0} \right)}"
    assert e.text(digits=9) == "1.0000002*x1**2.0000001 + 2.50000031*sin(x0)"
    assert e.sympy().atoms(sympy.Float)  # full precision is kept
    assert sorted(e.constants) == pytest.approx([1.0000002, 2.0000001, 2.50000031])


@pytest.mark.parametrize("text, c", [
    ("x0", 1), ("x0*x1/x2**2", 7), ("2.5*sin(x0) + x1**2", 8), ("x0 - x1", 3),
    ("1/x0", 3), ("sqrt(x0)", 2), ("exp(-0.5*x0)*sin(2*x1)", 9), ("x0/2", 3),
])
def test_complexity_counts_nodes_as_written(text, c):
    assert Expression(text).complexity == c
    assert complexity(Expression(text).sympy()) == c


def test_evaluate_matrix_and_mapping():
    e = Expression("x0*x1/x2**2", ["x0", "x1", "x2"])
    X = np.array([[1.0, 2.0, 2.0], [3.0, 1.0, 1.0]])
    np.testing.assert_allclose(e.evaluate(X), [0.5, 3.0])
    np.testing.assert_allclose(e.evaluate({"x0": X[:, 0], "x1": X[:, 1], "x2": X[:, 2]}),
                               [0.5, 3.0])
    with pytest.raises(PhysDistillError, match=r"shape \(n, 3\)"):
        e.evaluate(X[:, :2])
    with pytest.raises(PhysDistillError, match="lack the variables"):
        e.evaluate({"x0": X[:, 0]})
    assert np.isnan(Expression("log(x0)").evaluate([[-1.0]])[0])
    np.testing.assert_allclose(Expression("3.5", ["x0"]).evaluate([[1.0], [2.0]]), [3.5, 3.5])


def test_variables_must_cover_the_free_symbols():
    with pytest.raises(PhysDistillError, match="not among its variables"):
        Expression(sympy.sympify("x0 + y"), ["x0"])
    with pytest.raises(PhysDistillError, match="unknown name 'y'"):
        Expression("x0 + y", ["x0"])
    with pytest.raises(PhysDistillError, match="not supported"):
        Expression(sympy.Piecewise((sympy.Symbol("x"), sympy.Symbol("x") > 0), (0, True)))
    with pytest.raises(PhysDistillError, match="not supported"):
        Expression(sympy.besselj(0, sympy.Symbol("x")))


def test_round_constants_and_tidy():
    x = sympy.Symbol("x")
    assert round_constants(sympy.Float(0.99999999) * x, 4) == x
    assert round_constants(sympy.Float(2.0000001) * x**sympy.Float(3.00000001), 4) == 2 * x**3
    assert tidy(x * sympy.Symbol("y") + x * sympy.Symbol("z")) == x * (sympy.Symbol("y")
                                                                         + sympy.Symbol("z"))
    assert tidy((sympy.sin(x) ** 2 + sympy.cos(x) ** 2) * sympy.Symbol("y")) == sympy.Symbol("y")


@pytest.mark.parametrize("text", [
    "x0*x1/x2**2", "2.5*sin(x0) + x1**2", "exp(-0.5*x0)*sin(2*x1)", "sqrt(2)*x0 + pi",
    "Abs(x0)**1.5 - tanh(x1)/3 + log(x2)", "(1 + pi)**2*x0 + E",
])
def test_json_round_trip(tmp_path, text):
    e = Expression(text, ["x0", "x1", "x2"])
    assert Expression.from_json(e.to_json()) == e
    e.save(tmp_path / "e.json")
    back = Expression.load(tmp_path / "e.json")
    assert back == e and back.variables == ("x0", "x1", "x2")
    X = np.random.default_rng(0).uniform(0.5, 2, (5, 3))
    np.testing.assert_array_equal(back.evaluate(X), e.evaluate(X))


def _doc(tree, variables=("x0",)):
    return {"format": "physdistill.expression", "version": 1, "variables": list(variables),
            "tree": tree}


SENTINEL_CMD = "open('{path}', 'w').write('pwned')"


@pytest.mark.parametrize("make", [
    lambda p: _doc({"type": f"__import__('os').system('touch {p}')", "args": []}),
    lambda p: _doc({"type": "eval", "args": [{"type": "Symbol", "name": "x0"}]}),
    lambda p: _doc({"type": "Function", "name": "eval",
                    "args": [{"type": "Symbol", "name": SENTINEL_CMD.format(path=p)}]}),
    lambda p: _doc({"type": "Symbol", "name": SENTINEL_CMD.format(path=p)}),
    lambda p: _doc({"type": "Symbol", "name": "x0", "code": SENTINEL_CMD.format(path=p)}),
    lambda p: _doc({"type": "sin", "args": [SENTINEL_CMD.format(path=p)]}),
    lambda p: _doc({"type": "Float", "value": SENTINEL_CMD.format(path=p)}),
    lambda p: _doc({"type": "Add", "args": [{"type": "Symbol", "name": "x0"}]}),
    lambda p: _doc({"type": "Pow", "args": [{"type": "Integer", "value": 10},
                                            {"type": "Integer", "value": 10**12}]}),
    lambda p: _doc({"type": "Pow", "args": [
        {"type": "Pow", "args": [{"type": "Integer", "value": 10**15},
                                 {"type": "Integer", "value": 64}]},
        {"type": "Integer", "value": 64}]}),
    lambda p: _doc({"type": "Symbol", "name": "x0"}, variables=["__import__('os')"]),
    lambda p: {"format": "pickle", "payload": SENTINEL_CMD.format(path=p)},
    lambda p: _doc({"type": "Rational", "p": 1, "q": 0}),
    lambda p: _doc({"type": "Constant", "name": "__builtins__"}),
])
def test_malicious_or_corrupt_json_executes_nothing(tmp_path, make):
    sentinel = tmp_path / "sentinel"
    f = tmp_path / "evil.json"
    f.write_text(json.dumps(make(sentinel)))
    with pytest.raises(PhysDistillError):
        Expression.load(f)
    assert not sentinel.exists()


def test_corrupt_files_give_clear_errors(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text('{"format": "physdistill.expression", "version": 1,')
    with pytest.raises(PhysDistillError, match="corrupt"):
        Expression.load(f)
    f.write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)
    with pytest.raises(PhysDistillError, match="corrupt|not a physdistill"):
        Expression.load(f)
    f.write_text(json.dumps(_doc({"type": "Float", "value": 1.0})).replace("1.0", "NaN"))
    with pytest.raises(PhysDistillError, match="corrupt"):
        Expression.load(f)
    deep = {"type": "Symbol", "name": "x0"}
    for _ in range(300):
        deep = {"type": "sin", "args": [deep]}
    f.write_text(json.dumps(_doc(deep)))
    with pytest.raises(PhysDistillError, match="deeper"):
        Expression.load(f)
    with pytest.raises(PhysDistillError, match="not found"):
        Expression.load(tmp_path / "missing.json")


def test_with_constants():
    e = Expression("2.5*sin(1.5*x0)")
    e2 = e.with_constants([v * 2 for v in e.constants])
    assert sorted(e2.constants) == [3.0, 5.0]
    with pytest.raises(PhysDistillError, match="expected 2 constants"):
        e.with_constants([1.0])


_TWO_TO_THE_64 = {"type": "Pow", "args": [{"type": "Integer", "value": 2},
                                          {"type": "Integer", "value": 64}]}


@pytest.mark.parametrize("tree", [
    # the exponent is itself an exact power: only the literal exponent was checked before
    {"type": "Pow", "args": [{"type": "Integer", "value": 2}, _TWO_TO_THE_64]},
    {"type": "Pow", "args": [{"type": "Symbol", "name": "x0"}, _TWO_TO_THE_64]},
    {"type": "Pow", "args": [{"type": "Integer", "value": 3}, {"type": "Mul", "args": [
        {"type": "Integer", "value": 10**15}, {"type": "Integer", "value": 10**15}]}]},
])
def test_crafted_non_literal_exponent_is_refused_fast(tree):
    """Issue 20: ``Pow(2, Pow(2, 64))`` hung ``Expression.from_json`` (and ``physdistill
    report``, which reads fronts through it) for 10 minutes; now it is refused in under 1 s."""
    from physdistill.symbolic import ParetoFront

    start = time.perf_counter()
    with pytest.raises(PhysDistillError, match="too large|exact number"):
        Expression.from_json(json.dumps(_doc(tree)))
    with pytest.raises(PhysDistillError, match="too large|exact number"):
        ParetoFront.from_dict({"candidates": [{"expression": _doc(tree), "complexity": 5,
                                               "loss": 0.0, "score": 0.0}],
                               "chosen_index": 0, "rule": "best", "target_variance": 1.0,
                               "backend": "operon", "meta": {}})
    assert time.perf_counter() - start < 1.0


def test_legitimate_constant_exponents_still_round_trip():
    e = Expression("x**sqrt(2) + 3*x**(pi/2) + sin(x)**-2", ["x"])
    assert Expression.from_json(e.to_json()) == e


def test_a_rewrite_that_would_not_finish_is_bounded(monkeypatch):
    """Issue 20: ``tidy`` (the cleaning step of every search) ran ``trigsimp`` without a bound
    and spent over 20 minutes in one call. A stand-in ``trigsimp`` that never returns (and
    swallows ``Exception`` like sympy's own fallbacks) is interrupted at the time bound, and
    ``tidy`` returns the best of the rewrites that finished."""
    x = sympy.Symbol("x")

    def never_finishes(expr):
        while True:
            try:
                sympy.expand((x + 1) ** 3)
            except Exception:
                pass

    monkeypatch.setattr(sympy, "trigsimp", never_finishes)
    start = time.perf_counter()
    out = tidy(x * sympy.sin(x) + x * sympy.cos(x) ** 2 + x * sympy.sin(x) ** 2, seconds=1.0)
    assert time.perf_counter() - start < 3.0
    # factor_terms still pulled out the common factor, within the bound
    assert out.is_Mul and x in out.args


def test_bounded_gives_none_past_the_bounds():
    from physdistill.symbolic.bounded import bounded

    x = sympy.Symbol("x")

    def slow(expr):
        while True:
            sympy.expand((x + 2) ** 2)

    assert bounded(slow, x, seconds=0.2) is None
    assert bounded(sympy.expand, sum(x**k for k in range(100)), max_ops=10) is None
    assert bounded(sympy.expand, x * (x + 1)) == x**2 + x
