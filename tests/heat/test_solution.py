"""Solution distillation: the distilled formula and its constants against the exact ones."""

from __future__ import annotations

import math

import pytest
import sympy

from physdistill.heat.problem import HeatProblem
from physdistill.heat.solution import (
    DEFAULT_SR,
    SolutionConfig,
    compare_constants,
    distill_solution,
    mode_terms,
)

FAST = SolutionConfig(sr=DEFAULT_SR.replace(population_size=200, max_evaluations=100_000,
                                            time_limit_s=30))


def test_single_mode_solution_and_constants(single):
    problem, result = single
    sol = distill_solution(result.model, problem, FAST)
    assert sol.form_matches
    # a 700-step network: rel. L2 ~1e-4, constants ~1e-5 (the full default run: < 1e-5)
    assert max(c["rel_error"] for c in sol.constants) < 1e-4
    assert sol.rel_l2_vs_exact < 1e-3 and sol.rel_l2_vs_network < 1e-3
    d = sol.to_dict()
    assert set(d) >= {"expression", "latex", "rel_l2_vs_exact", "constants"}
    assert "exp" in d["expression"] and "sin" in d["expression"]


def test_mode_terms_read_products_of_trig_functions():
    x, t = sympy.symbols("x t")
    # sin(pi x)(cos(2 pi x) + 1/2) = sin(3 pi x)/2: SR finds this form for two modes
    e = ((sympy.cos(6.2832 * x) + 0.5) * sympy.exp(-35.5 * t)
         + sympy.exp(-3.948 * t)) * sympy.sin(3.1416 * x)
    terms = {(round(m["frequency"], 3), round(m["decay"], 3)) for m in mode_terms(e)}
    assert {(3.142, 3.948), (9.425, 35.5)} <= terms
    p = HeatProblem(ic="sin(pi*x) + 0.5*sin(3*pi*x)")
    rows, ok = compare_constants(e, p)
    assert ok and [r["name"].split()[0] for r in rows] == ["frequency", "decay"] * 2
    assert rows[2]["found"] == pytest.approx(3 * 3.1416, rel=1e-6)
    assert rows[1]["rel_error"] == pytest.approx(abs(3.948 / (0.4 * math.pi ** 2) - 1))
    _, ok = compare_constants(sympy.exp(-3.948 * t) * x, p)
    assert not ok
    # terms that are not a * exp(-lambda t) * sin(w x + phi) are skipped, not misread
    odd = (sympy.sin(sympy.sin(6.27 * x - 4.7)) * sympy.exp(-3 * t)
           + sympy.exp(sympy.sin(x)) * sympy.sin(3 * x) + sympy.sin(2 * x) * sympy.exp(-t ** 2))
    assert mode_terms(odd) == []
