r"""Reference solutions of a :class:`~physdistill.pde.problem.PDEProblem` (numpy + scipy).

**Periodic** problems: Fourier pseudo-spectral in x. The right-hand side is split into
constant-coefficient linear terms :math:`\sum_k a_k \partial_x^k u`, whose Fourier symbol
:math:`L(\kappa) = \sum_k a_k (i\kappa)^k` is integrated exactly, and the rest :math:`N`,
evaluated in physical space with derivatives by FFT and the 2/3 rule against aliasing. Time
stepping is the integrating-factor Runge-Kutta 4 (Lawson) scheme

.. math::

    \hat u_{n+1} = e^{Lh}\hat u_n + \tfrac{h}{6}\big(e^{Lh}k_1 + 2e^{Lh/2}(k_2 + k_3) + k_4\big),

with the step chosen from the spectral radius of :math:`\partial N/\partial u` (power iteration,
re-estimated at every output time) so the explicit part is stable; stiff diffusion and
dispersion cost nothing.

**Dirichlet / Neumann** problems: method of lines, second-order central differences on
:data:`MOL_POINTS` points (ghost points for Neumann), integrated by scipy's ``BDF`` with a
banded Jacobian sparsity pattern (``rtol`` 1e-9). Derivatives up to order 2.

Both return a :class:`Reference`: the solution on a fine grid and cubic interpolation to any
point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

from physdistill.errors import PhysDistillError
from physdistill.pde.equation import COORDS, FIELDS

#: spectral grid points and stored time levels of a periodic reference
SPECTRAL_POINTS = 512
#: method-of-lines grid points
MOL_POINTS = 801
TIME_LEVELS = 1001


@dataclass
class Reference:
    """A solution on a grid: ``x (nx,)``, ``t (nt,)``, ``u (nx, nt)``; call it at points."""

    x: np.ndarray
    t: np.ndarray
    u: np.ndarray
    periodic: bool
    length: float

    def __post_init__(self) -> None:
        from scipy.interpolate import RegularGridInterpolator

        x, u = self.x, self.u
        if self.periodic:  # wrap, so the interpolant is periodic
            pad = 3
            x = np.concatenate([x[-pad:] - self.length, x, x[:pad] + self.length])
            u = np.concatenate([u[-pad:], u, u[:pad]], axis=0)
        self._interp = RegularGridInterpolator((x, self.t), u, method="cubic")

    def __call__(self, x: Any, t: Any) -> np.ndarray:
        x, t = np.broadcast_arrays(np.asarray(x, float), np.asarray(t, float))
        xq = x
        if self.periodic:
            xq = self.x[0] + np.mod(x - self.x[0], self.length)
        pts = np.stack([xq.ravel(), np.clip(t.ravel(), self.t[0], self.t[-1])], 1)
        return self._interp(pts).reshape(x.shape)


def solve(problem: Any, nx: int | None = None, nt: int = TIME_LEVELS) -> Reference:
    """The reference solution of ``problem`` (spectral if periodic, else method of lines)."""
    if problem.equation.text is None:
        raise PhysDistillError("the built-in solver needs the PDE as a formula; a callable PDE "
                               "has no reference solution (pass observations from your data)")
    if problem.bc == "periodic":
        return spectral(problem, nx or SPECTRAL_POINTS, nt)
    return method_of_lines(problem, nx or MOL_POINTS, nt)


def _numpy_rhs(expr: sympy.Expr) -> Any:
    syms = [sympy.Symbol(n) for n in (*FIELDS, *COORDS)]
    return sympy.lambdify(syms, sympy.N(expr), modules="numpy")


def spectral(problem: Any, nx: int = SPECTRAL_POINTS, nt: int = TIME_LEVELS) -> Reference:
    r"""Integrating-factor RK4 pseudo-spectral solve of a periodic problem (module docstring)."""
    x0, L = problem.domain[0], problem.length
    x = x0 + L * np.arange(nx) / nx
    k = 2 * np.pi * np.fft.rfftfreq(nx, d=L / nx)
    linear, rest = problem.equation.linear_split(problem.values)
    sym = sum(a * (1j * k) ** order for order, a in linear.items()) + 0 * k
    dealias = k <= (2 / 3) * k.max()
    order = problem.equation.order
    nonlinear = _numpy_rhs(rest) if rest != 0 else None

    def N(uh: np.ndarray, t: float) -> np.ndarray:
        if nonlinear is None:
            return np.zeros_like(uh)
        fields = [np.fft.irfft(uh * (1j * k) ** p, nx) if p <= order else None
                  for p in range(len(FIELDS))]
        val = nonlinear(*fields, x, t) + 0 * x
        return np.fft.rfft(val) * dealias

    def radius(uh: np.ndarray, t: float) -> float:
        if nonlinear is None:
            return 0.0
        rng = np.random.default_rng(0)
        v = np.fft.rfft(rng.standard_normal(nx)) * dealias
        base, lam = N(uh, t), 0.0
        for _ in range(8):
            v = v / max(np.linalg.norm(v), 1e-300)
            eps = 1e-7 * max(np.linalg.norm(uh), 1.0)
            w = (N(uh + eps * v, t) - base) / eps
            lam = float(np.linalg.norm(w))
            v = w
        return lam

    uh = np.fft.rfft(problem.u0(x))
    times = np.linspace(0.0, problem.T, nt)
    out = np.empty((nx, nt))
    out[:, 0] = np.fft.irfft(uh, nx)
    for j in range(1, nt):
        span = times[j] - times[j - 1]
        rho = radius(uh, times[j - 1])
        steps = max(1, int(np.ceil(span * rho / 1.0)))  # RK4 is stable for |h*lambda| < 2.8
        h = span / steps
        E, E2 = np.exp(sym * h), np.exp(sym * h / 2)
        t = times[j - 1]
        for _ in range(steps):
            k1 = N(uh, t)
            k2 = N(E2 * (uh + h / 2 * k1), t + h / 2)
            k3 = N(E2 * uh + h / 2 * k2, t + h / 2)
            k4 = N(E * uh + h * E2 * k3, t + h)
            uh = E * uh + h / 6 * (E * k1 + 2 * E2 * (k2 + k3) + k4)
            t += h
        out[:, j] = np.fft.irfft(uh, nx)
        if not np.all(np.isfinite(out[:, j])):
            raise PhysDistillError(f"the spectral solve of {problem.equation} blew up at "
                                   f"t={times[j]:.4g}; the solution may not exist that long")
    return Reference(x, times, out, True, L)


def method_of_lines(problem: Any, nx: int = MOL_POINTS, nt: int = TIME_LEVELS) -> Reference:
    """Second-order finite differences + scipy BDF for Dirichlet / Neumann problems."""
    from scipy.integrate import solve_ivp
    from scipy.sparse import diags

    order = problem.equation.order
    if order > 2:
        raise PhysDistillError(
            f"the built-in solver handles {problem.bc} boundaries for derivatives up to u_xx; "
            f"{problem.equation} has order {order}; use bc='periodic' or give measured data")
    x0, x1 = problem.domain
    x = np.linspace(x0, x1, nx)
    dx = x[1] - x[0]
    g0, g1 = problem.bc_values
    rhs = _numpy_rhs(problem.equation.substitute(problem.values))
    dirichlet = problem.bc == "dirichlet"

    def full(v: np.ndarray) -> np.ndarray:
        """Values with one ghost point at each end."""
        if dirichlet:
            u = np.concatenate([[g0], v, [g1]])
            return np.concatenate([[2 * g0 - u[1]], u, [2 * g1 - u[-2]]])  # unused ghosts
        return np.concatenate([[v[1] - 2 * dx * g0], v, [v[-2] + 2 * dx * g1]])

    def f(t: float, v: np.ndarray) -> np.ndarray:
        w = full(v)
        u = w[1:-1]
        ux = (w[2:] - w[:-2]) / (2 * dx)
        uxx = (w[2:] - 2 * u + w[:-2]) / dx**2
        val = rhs(u, ux, uxx, None, None, x, t) + 0 * u
        return val[1:-1] if dirichlet else val

    u0 = problem.u0(x)
    v0 = u0[1:-1] if dirichlet else u0
    m = len(v0)
    pattern = diags([1.0, 1.0, 1.0], [-1, 0, 1], shape=(m, m))
    times = np.linspace(0.0, problem.T, nt)
    sol = solve_ivp(f, (0.0, problem.T), v0, method="BDF", t_eval=times, rtol=1e-9,
                    atol=1e-11 * max(1.0, float(np.max(np.abs(u0)))), jac_sparsity=pattern)
    if not sol.success:
        raise PhysDistillError(f"the method-of-lines solve of {problem.equation} failed "
                               f"({sol.message})")
    u = sol.y
    if dirichlet:
        u = np.concatenate([np.full((1, nt), g0), u, np.full((1, nt), g1)])
    return Reference(x, times, u, False, problem.length)
