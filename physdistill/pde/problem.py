r"""A 1-D time-dependent PDE problem as data: equation, box, horizon, IC, BCs, coefficients.

.. math::

    u_t = F(u, u_x, \dots; x, t; c), \qquad x \in [x_0, x_1],\ t \in [0, T],
    \qquad u(x, 0) = u_0(x),

with one boundary kind for both ends:

* ``"periodic"``: :math:`u(x_0, t) = u(x_1, t)` (the box is :math:`[x_0, x_1)`);
* ``"dirichlet"``: :math:`u(x_0, t) = g_0`, :math:`u(x_1, t) = g_1` (constants);
* ``"neumann"``: :math:`u_x(x_0, t) = g_0`, :math:`u_x(x_1, t) = g_1`.

:class:`PDEProblem` holds no model and no solver state; it checks every field when it is built,
samples points, and gives a reference solution (:mod:`physdistill.pde.solve`) when all
coefficients have values. Coefficients named in ``learn`` are unknowns for an inverse run; their
value in ``coefficients`` (if any) is the truth it is compared with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import sympy

from physdistill.errors import PhysDistillError
from physdistill.pde.equation import Equation, check_value
from physdistill.symbolic import parse_expression

BOUNDARIES = ("periodic", "dirichlet", "neumann")
XSYM = sympy.Symbol("x")


@dataclass(frozen=True)
class PDEProblem:
    r"""A PDE problem (see the module docstring).

    Args:
        pde: ``"u_t = ..."`` or an :class:`Equation`.
        ic: :math:`u_0(x)` as a formula in ``x`` (safe parser, never evaluated).
        domain: ``(x0, x1)``, ``x0 < x1``.
        T: horizon ``> 0``.
        bc: ``"periodic"``, ``"dirichlet"`` or ``"neumann"``.
        bc_values: ``(g0, g1)`` for Dirichlet / Neumann (default ``(0, 0)``).
        coefficients: ``{name: value}`` (known values, or the truth of learned ones); a
            mapping or pairs.
        learn: coefficient names an inverse run learns.
        name: a label for reports.

    Raises:
        PhysDistillError: any invalid field, a coefficient without a value that is not learned,
            or a value for a name the equation does not use.
    """

    pde: str | Equation
    ic: str
    domain: tuple[float, float] = (0.0, 1.0)
    T: float = 1.0
    bc: str = "periodic"
    bc_values: tuple[float, float] = (0.0, 0.0)
    coefficients: Any = ()
    learn: tuple[str, ...] = ()
    name: str = "pde"
    _coeffs: dict[str, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            x0, x1 = (check_value("domain bound", v) for v in self.domain)
        except (TypeError, ValueError):
            raise PhysDistillError(f"domain must be two numbers (x0, x1), got {self.domain!r}") \
                from None
        if not x0 < x1:
            raise PhysDistillError(f"domain must have x0 < x1, got {self.domain!r}")
        object.__setattr__(self, "domain", (x0, x1))
        T = check_value("T", self.T)
        if T <= 0:
            raise PhysDistillError(f"T (the horizon) must be > 0, got {self.T!r}")
        object.__setattr__(self, "T", T)
        if self.bc not in BOUNDARIES:
            raise PhysDistillError(f"bc must be one of {BOUNDARIES}, got {self.bc!r}")
        try:
            g = tuple(check_value("bc value", v) for v in self.bc_values)
        except TypeError:
            g = ()
        if len(g) != 2:
            raise PhysDistillError(f"bc_values must be two numbers (g0, g1), got "
                                   f"{self.bc_values!r}")
        object.__setattr__(self, "bc_values", g)
        raw = self.coefficients
        try:
            coeffs = dict(raw.items() if isinstance(raw, Mapping) else raw)
        except (TypeError, ValueError):
            raise PhysDistillError(f"coefficients must be a mapping name -> value, got "
                                   f"{raw!r}") from None
        coeffs = {str(k): check_value(f"coefficient {k}", v) for k, v in coeffs.items()}
        learn = tuple(self.learn)
        object.__setattr__(self, "learn", learn)
        declared = tuple(dict.fromkeys((*coeffs, *learn)))
        eq = self.pde if isinstance(self.pde, Equation) else Equation(self.pde, declared)
        object.__setattr__(self, "pde", eq)
        for k in (*coeffs, *learn):
            if k not in eq.coefficients:
                raise PhysDistillError(f"coefficient {k!r} does not appear in the PDE {eq}; its "
                                       f"coefficients are {list(eq.coefficients) or 'none'}")
        missing = [c for c in eq.coefficients if c not in coeffs and c not in learn]
        if missing:
            raise PhysDistillError(f"the PDE {eq} uses {missing} without a value; give "
                                   f"coefficients={{'{missing[0]}': ...}} or learn it "
                                   f"(learn=('{missing[0]}',))")
        object.__setattr__(self, "coefficients", tuple(sorted(coeffs.items())))
        object.__setattr__(self, "_coeffs", coeffs)
        _ = self.ic_expr  # parse now: a bad IC fails at construction

    # -- views --------------------------------------------------------------------------------
    @property
    def equation(self) -> Equation:
        return self.pde  # type: ignore[return-value]

    @property
    def values(self) -> dict[str, float]:
        """Known (or true) coefficient values."""
        return dict(self._coeffs)

    @property
    def length(self) -> float:
        return self.domain[1] - self.domain[0]

    @cached_property
    def ic_expr(self) -> sympy.Expr:
        return parse_expression(self.ic, ["x"], what="initial condition")

    def u0(self, x: Any) -> np.ndarray:
        """:math:`u_0` at ``x`` (numpy)."""
        f = sympy.lambdify([XSYM], sympy.N(self.ic_expr), modules="numpy")
        x = np.asarray(x, dtype=float)
        return np.asarray(f(x), dtype=float) + 0 * x

    @property
    def hard_compatible(self) -> bool:
        """Whether :math:`u_0` meets the boundary conditions (to 1e-8 of its scale), so an
        output transform can enforce IC and BCs exactly."""
        x0, x1 = self.domain
        scale = max(1.0, float(np.max(np.abs(self.u0(np.linspace(x0, x1, 257))))))
        a, b = (float(v) for v in self.u0(np.array([x0, x1])))
        if self.bc == "periodic":
            return abs(a - b) < 1e-8 * scale
        if self.bc == "dirichlet":
            return abs(a - self.bc_values[0]) < 1e-8 * scale and \
                abs(b - self.bc_values[1]) < 1e-8 * scale
        return False

    # -- sampling -----------------------------------------------------------------------------
    def sample_domain(self, n: int, rng: np.random.Generator, method: str = "halton"
                      ) -> np.ndarray:
        """``(n, 2)`` points ``(x, t)`` in the space-time box."""
        if method == "halton":
            from scipy.stats import qmc

            seed = int(rng.integers(0, 2**31 - 1))  # as the heat problem draws its points
            s = qmc.Halton(2, scramble=True, seed=seed).random(n)
        else:
            s = rng.random((n, 2))
        x0, x1 = self.domain
        return np.stack([x0 + s[:, 0] * (x1 - x0), s[:, 1] * self.T], 1)

    def sample_initial(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(x, 0)`` points ``(n, 2)`` and :math:`u_0` there ``(n,)``."""
        x = rng.uniform(*self.domain, n)
        return np.stack([x, np.zeros(n)], 1), self.u0(x)

    def sample_boundary(self, n: int, rng: np.random.Generator
                        ) -> tuple[np.ndarray, np.ndarray]:
        """``(n, 2)`` boundary points (half at each end) and the prescribed values ``(n,)``
        (u for Dirichlet, u_x for Neumann)."""
        t = rng.uniform(0.0, self.T, n)
        left = np.arange(n) % 2 == 0
        x = np.where(left, self.domain[0], self.domain[1])
        g = np.where(left, self.bc_values[0], self.bc_values[1])
        return np.stack([x, t], 1), g

    def grid(self, nx: int = 256, nt: int = 101) -> tuple[np.ndarray, np.ndarray]:
        """``(X, T)`` of shape ``(nx, nt)`` (periodic: right end left out)."""
        x0, x1 = self.domain
        x = np.linspace(x0, x1, nx, endpoint=self.bc != "periodic")
        return np.meshgrid(x, np.linspace(0.0, self.T, nt), indexing="ij")

    # -- reference ----------------------------------------------------------------------------
    def reference(self, x: Any, t: Any) -> np.ndarray:
        """Reference solution at broadcastable ``x``, ``t`` (see :mod:`physdistill.pde.solve`)."""
        return self._reference(x, t)

    @cached_property
    def _reference(self) -> Any:
        from physdistill.pde.solve import solve

        missing = [c for c in self.equation.coefficients if c not in self._coeffs]
        if missing:
            raise PhysDistillError(f"no reference solution: the coefficients {missing} have no "
                                   "true value; give them in coefficients=")
        return solve(self)

    def observations(self, n: int, noise: float = 0.0, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
        """``n`` samples ``(xt (n, 2), u (n,))`` of the reference, with Gaussian noise of
        standard deviation ``noise * std(u)``."""
        rng = np.random.default_rng(seed + 7919)
        xt = self.sample_domain(n, rng, "random")
        u = self.reference(xt[:, 0], xt[:, 1])
        if noise:
            u = u + noise * float(np.std(u)) * rng.standard_normal(u.shape)
        return xt, u

    # -- persistence --------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """JSON-able fields (a callable PDE cannot be rebuilt from it)."""
        return {"pde": self.equation.describe(), "ic": self.ic, "domain": list(self.domain),
                "T": self.T, "bc": self.bc, "bc_values": list(self.bc_values),
                "coefficients": dict(self.coefficients), "learn": list(self.learn),
                "name": self.name}

    @classmethod
    def from_description(cls, d: Mapping[str, Any]) -> PDEProblem:
        pde = d["pde"]
        if "text" not in pde:
            raise PhysDistillError("this problem's PDE was a Python callable; it cannot be "
                                   "rebuilt from a file; pass the problem object instead")
        return cls(pde=Equation(pde["text"], tuple(pde["coefficients"])), ic=d["ic"],
                   domain=tuple(d["domain"]), T=d["T"], bc=d["bc"],
                   bc_values=tuple(d["bc_values"]), coefficients=d["coefficients"],
                   learn=tuple(d["learn"]), name=d.get("name", "pde"))


def relative_l2(a: np.ndarray, b: np.ndarray) -> float:
    r""":math:`\|a - b\|_2 / \|b\|_2`."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))
