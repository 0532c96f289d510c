"""The operator registry is the one vocabulary: parser, tree, numpy, torch and backends agree."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch

from physdistill.symbolic import Expression
from physdistill.symbolic._parse import PARSE_FUNCTIONS
from physdistill.symbolic._tree import FUNCTIONS as TREE_FUNCTIONS
from physdistill.symbolic.backends import OperonBackend, PySRBackend
from physdistill.symbolic.config import OPERATORS
from physdistill.symbolic.operators import (
    FUNCTIONS,
    SEARCH_OPERATORS,
    engine_spelling,
    search_operators_of,
)
from physdistill.symbolic.torch_expr import TorchExpression


@pytest.mark.parametrize("f", FUNCTIONS, ids=lambda f: f.name)
def test_every_function_parses_round_trips_and_evaluates_alike(f):
    x = np.array([0.3, 0.7, 1.2])
    for spelling in (f.name, *f.aliases):
        assert spelling in PARSE_FUNCTIONS
        e = Expression(f"2*{spelling}(x) + 1", ["x"])
        back = Expression.from_dict(e.to_dict())
        assert sympy.simplify(back.sympy() - e.sympy()) == 0
        want = 2 * f.numpy(x) + 1
        np.testing.assert_allclose(e.evaluate({"x": x}), want, rtol=1e-12)
        got = TorchExpression(e)(torch.tensor(x)[:, None]).detach().numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12)
        assert f.math(0.5) == pytest.approx(float(f.numpy(0.5)))
    assert f.name in TREE_FUNCTIONS


def test_search_operators_are_the_config_vocabulary_and_every_engine_spells_them():
    assert OPERATORS == tuple(o.name for o in SEARCH_OPERATORS)
    assert set(OperonBackend.operator_map) == set(OPERATORS) == set(engine_spelling("operon"))
    assert set(PySRBackend.operator_map) == set(OPERATORS)
    for o in SEARCH_OPERATORS:
        kind, _ = PySRBackend.operator_map[o.name]
        assert kind == ("binary" if o.arity == 2 else "unary")
        if o.function is not None:
            assert o.function in TREE_FUNCTIONS


def test_search_operators_of_an_expression_name_its_functions():
    r, m = sympy.symbols("r m")
    assert search_operators_of(m * sympy.exp(-r) / r) == ("exp",)
    assert search_operators_of(sympy.sin(r) + sympy.log(m)) == ("sin", "log")
    assert search_operators_of(m / r**2) == ()
