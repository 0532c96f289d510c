"""The safe text parser: formulas in, nothing executed."""

from __future__ import annotations

import pytest
import sympy

from physdistill.errors import PhysDistillError
from physdistill.symbolic._parse import check_name, parse_expression

x0, x1, x2 = sympy.symbols("x0 x1 x2")


@pytest.mark.parametrize("text, expected", [
    ("x0*x1/x2^2", x0 * x1 / x2**2),
    ("((x0 * x1) / (x2 ^ 2))", x0 * x1 / x2**2),
    ("2.5*sin(x0) + square(x1)", 2.5 * sympy.sin(x0) + x1**2),
    ("cube(x0) + inv(x1) - neg(x2)", x0**3 + 1 / x1 + x2),
    ("pow(x0, 1.5) + sqrt(x1) + abs(x2)", x0**1.5 + sympy.sqrt(x1) + sympy.Abs(x2)),
    ("exp(-0.5*x0)*log(x1) + tanh(x2)", sympy.exp(-0.5 * x0) * sympy.log(x1) + sympy.tanh(x2)),
    ("pi*x0 + E", sympy.pi * x0 + sympy.E),
    ("-(+x0)", -x0),
])
def test_parses_engine_and_user_formulas(text, expected):
    assert parse_expression(text, ["x0", "x1", "x2"]) == expected


@pytest.mark.parametrize("text, fragment", [
    ("__import__('os').system('echo hi')", "not allowed"),
    ("x0.__class__", "Attribute"),
    ("eval('1')", "'eval' is not allowed"),
    ("(lambda: 1)()", "not allowed"),
    ("[x0 for x0 in (1,)]", "ListComp"),
    ("x0 if x1 else x2", "IfExp"),
    ("x0[0]", "Subscript"),
    ("sin(x=x0)", "keyword"),
    ("sin(x0, x1)", "takes 1"),
    ("'abc'", "not a real number"),
    ("True", "not a real number"),
    ("1j", "not a real number"),
    ("x0 // x1", "FloorDiv"),
    ("x0 == x1", "Compare"),
    ("y", "unknown name 'y'"),
    ("10**10**10", "too large"),
    ("1" * 20 + "*x0", "too large"),
    ("x0 +", "not a formula"),
    ("x0;import os", "not a formula"),
])
def test_rejects_everything_outside_the_whitelist(text, fragment):
    with pytest.raises(PhysDistillError, match=None) as info:
        parse_expression(text, ["x0", "x1", "x2"])
    assert fragment in str(info.value)


def test_size_and_depth_limits_give_clear_errors():
    with pytest.raises(PhysDistillError, match="characters long"):
        parse_expression("x0+" * 10_000 + "x0", ["x0"])
    with pytest.raises(PhysDistillError, match="nested|syntax nodes"):
        parse_expression("(" * 300 + "x0" + ")" * 300, ["x0"])
    with pytest.raises(PhysDistillError, match="nested"):
        parse_expression("+".join(["x0"] * 3000), ["x0"])  # a left-deep chain
    balanced = "-a"
    for _ in range(11):  # 2048 leaves of 2 nodes, depth 13, ~10k characters
        balanced = f"({balanced}+{balanced})"
    with pytest.raises(PhysDistillError, match="syntax nodes"):
        parse_expression(balanced, ["a"])


def test_free_names_without_a_variable_list():
    e = parse_expression("a*Fx + b*Fy + c")
    assert {s.name for s in e.free_symbols} == {"a", "b", "c", "Fx", "Fy"}


@pytest.mark.parametrize("bad", ["1x", "x-y", "sin", "pi", "lambda", "", "x" * 65, 3])
def test_check_name_rejects_unusable_names(bad):
    with pytest.raises(PhysDistillError):
        check_name(bad)
