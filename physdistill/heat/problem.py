r"""The 1-D heat equation as a data object.

.. math::

    u_t = \alpha\, u_{xx}, \qquad x \in [x_0, x_1],\ t \in [0, T],

    u(x, 0) = u_0(x), \qquad u(x_0, t) = u_L, \quad u(x_1, t) = u_R.

:class:`HeatProblem` holds the data (``alpha``, the initial condition as a formula string, the
domain, the horizon and the constant Dirichlet values) and nothing about any model. It provides
the reference solution and point sampling:

- if :math:`u_0 - s` (``s`` the linear steady state) is a finite sine series
  :math:`\sum_k b_k \sin(k\pi (x - x_0)/L)`, the exact solution is the sum of decaying modes
  :math:`s(x) + \sum_k b_k e^{-\alpha (k\pi/L)^2 t} \sin(k\pi (x-x_0)/L)`;
- otherwise a fine Crank–Nicolson finite-difference solve (scipy banded solver, Rannacher start)
  is the reference.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import sympy

from physdistill.errors import PhysDistillError
from physdistill.pde.equation import check_value

#: the variable of the initial condition
XSYM = sympy.Symbol("x")
#: sine-series detection: transform size, and the most modes accepted as a "finite" series
_DST_SIZE = 2047
_MAX_MODES = 64


@dataclass(frozen=True)
class HeatProblem:
    r"""The heat equation :math:`u_t = \alpha u_{xx}` on :math:`[x_0, x_1] \times [0, T]`.

    Args:
        alpha: diffusivity :math:`\alpha > 0` (the true value; an inverse run learns it from
            observations and compares with this one). Default 0.4 (the DeepXDE example).
        ic: initial condition :math:`u_0(x)`, a formula in ``x`` read by the safe parser
            :func:`physdistill.symbolic.parse_expression` (never evaluated as code).
            Default ``"sin(pi*x)"``.
        domain: ``(x0, x1)`` with ``x0 < x1``. Default ``(0, 1)``.
        T: time horizon, ``> 0``. Default 1.
        bc: constant Dirichlet values ``(u_L, u_R)``. Default ``(0, 0)``.

    Raises:
        PhysDistillError: on any invalid field (checked at construction, before any work).
    """

    alpha: float = 0.4
    ic: str = "sin(pi*x)"
    domain: tuple[float, float] = (0.0, 1.0)
    T: float = 1.0
    bc: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        alpha = check_value("alpha", self.alpha)
        if alpha <= 0:
            raise PhysDistillError(f"alpha must be > 0 (a diffusivity), got {self.alpha!r}")
        try:
            ul, ur = (check_value("boundary value", v) for v in self.bc)
        except (TypeError, ValueError):
            raise PhysDistillError(f"bc must be two numbers (u_left, u_right), got {self.bc!r}") \
                from None
        object.__setattr__(self, "alpha", alpha)
        object.__setattr__(self, "bc", (ul, ur))
        pde = self._pde  # checks the domain, the horizon and the IC formula
        object.__setattr__(self, "domain", pde.domain)
        object.__setattr__(self, "T", pde.T)
        x0, x1 = pde.domain
        with np.errstate(all="ignore"):
            values = self.u0(np.linspace(x0, x1, 257))
        if not np.all(np.isfinite(values)):
            raise PhysDistillError(f"initial condition {self.ic!r} is not finite everywhere on "
                                   f"[{x0}, {x1}]")

    # -- the formula ---------------------------------------------------------------------------
    def as_pde(self, learn_alpha: bool = False) -> Any:
        """This problem in the general machinery: a
        :class:`~physdistill.pde.problem.PDEProblem` ``u_t = alpha*u_xx`` with Dirichlet values
        ``bc`` (``alpha`` learned when ``learn_alpha``)."""
        return self._pde_learned if learn_alpha else self._pde

    @cached_property
    def _pde(self) -> Any:
        from physdistill.pde.problem import PDEProblem

        return PDEProblem("u_t = alpha*u_xx", ic=self.ic, domain=self.domain, T=self.T,
                          bc="dirichlet", bc_values=self.bc, coefficients={"alpha": self.alpha},
                          name="heat")

    @cached_property
    def _pde_learned(self) -> Any:
        return dataclasses.replace(self._pde, learn=("alpha",))

    @property
    def length(self) -> float:
        return self._pde.length

    @property
    def ic_expr(self) -> sympy.Expr:
        """The initial condition as a sympy expression in :data:`XSYM`."""
        return self._pde.ic_expr

    def u0(self, x: Any) -> np.ndarray:
        """:math:`u_0(x)` on a numpy array (any shape)."""
        x = np.asarray(x, dtype=float)
        return np.broadcast_to(self._pde.u0(x), x.shape).astype(float)

    def steady(self, x: Any) -> np.ndarray:
        """The linear steady state :math:`s(x)` matching the boundary values."""
        (x0, _), (ul, ur) = self.domain, self.bc
        return ul + (ur - ul) * (np.asarray(x, dtype=float) - x0) / self.length

    @property
    def compatible(self) -> bool:
        """Whether the initial condition meets the boundary values at both ends (to 1e-9)."""
        x0, x1 = self.domain
        ends = self.u0(np.array([x0, x1]))
        scale = max(1.0, float(np.max(np.abs(self.u0(np.linspace(x0, x1, 257))))))
        return bool(np.all(np.abs(ends - np.array(self.bc)) <= 1e-9 * scale))

    # -- the reference solution ----------------------------------------------------------------
    @cached_property
    def sine_series(self) -> tuple[tuple[int, float], ...] | None:
        r"""Modes ``((k, b_k), ...)`` if :math:`u_0 - s` is a finite sine series, else ``None``.

        Detected numerically: a discrete sine transform of size 2047 is exact for any series with
        modes below that size, so the coefficients are correct to rounding; the series is
        accepted if it has at most 64 modes and reproduces :math:`u_0 - s` at off-grid points to
        1e-10 relative.
        """
        from scipy.fft import dst

        x0, _ = self.domain
        n = _DST_SIZE
        xj = x0 + self.length * np.arange(1, n + 1) / (n + 1)
        f = self.u0(xj) - self.steady(xj)
        b = dst(f, type=1) / (n + 1)
        scale = max(float(np.max(np.abs(f))), 1e-300)
        keep = np.nonzero(np.abs(b) > 1e-11 * scale)[0]
        if len(keep) > _MAX_MODES or (len(keep) and keep[-1] + 1 > n // 4):
            return None
        modes = tuple((int(k + 1), float(b[k])) for k in keep)
        rng = np.random.default_rng(12345)
        xs = x0 + self.length * rng.uniform(0, 1, 500)
        recon = self._series(modes, xs, np.zeros_like(xs)) - self.steady(xs)
        target = self.u0(xs) - self.steady(xs)
        if np.max(np.abs(recon - target)) > 1e-10 * max(scale, 1e-12):
            return None
        return modes

    @property
    def reference_kind(self) -> str:
        """``"exact"`` (finite sine series) or ``"finite-difference"``."""
        return "exact" if self.sine_series is not None else "finite-difference"

    def _series(self, modes: tuple[tuple[int, float], ...], x: np.ndarray,
                t: np.ndarray) -> np.ndarray:
        x0, L = self.domain[0], self.length
        out = self.steady(x).astype(float)
        for k, bk in modes:
            w = k * math.pi / L
            out = out + bk * np.exp(-self.alpha * w * w * t) * np.sin(w * (x - x0))
        return out

    def exact(self, x: Any, t: Any) -> np.ndarray:
        """The exact solution at broadcastable arrays ``x``, ``t`` (sine-series ICs only).

        Raises:
            PhysDistillError: the IC is not a finite sine series (use :meth:`reference`).
        """
        if self.sine_series is None:
            raise PhysDistillError(f"initial condition {self.ic!r} is not a finite sine series "
                                   "on the domain, so there is no closed-form solution here; "
                                   "use reference() (finite differences)")
        x, t = np.broadcast_arrays(np.asarray(x, float), np.asarray(t, float))
        return self._series(self.sine_series, x, t)

    def reference(self, x: Any, t: Any) -> np.ndarray:
        """Exact solution if there is one, else the finite-difference solution (interpolated)."""
        if self.sine_series is not None:
            return self.exact(x, t)
        x, t = np.broadcast_arrays(np.asarray(x, float), np.asarray(t, float))
        interp = self._fd_interpolator
        return interp(np.stack([t.ravel(), x.ravel()], axis=1)).reshape(x.shape)

    @cached_property
    def _fd_interpolator(self) -> Any:
        from scipy.interpolate import RegularGridInterpolator

        xs, ts, U = finite_difference(self)
        return RegularGridInterpolator((ts, xs), U, method="linear")

    def mode_constants(self) -> list[dict[str, float]]:
        r"""Per mode: amplitude :math:`b_k`, frequency :math:`k\pi/L`, decay :math:`\alpha(k\pi/L)^2`."""
        if self.sine_series is None:
            return []
        return [{"k": k, "amplitude": b, "frequency": k * math.pi / self.length,
                 "decay": self.alpha * (k * math.pi / self.length) ** 2}
                for k, b in self.sine_series]

    # -- points ----------------------------------------------------------------------------------
    def grid(self, nx: int = 256, nt: int = 201) -> tuple[np.ndarray, np.ndarray]:
        """Evaluation grid: ``X, T`` of shape ``(nt, nx)`` (``linspace`` in both, ends included)."""
        x = np.linspace(*self.domain, int(nx))
        t = np.linspace(0.0, self.T, int(nt))
        X, Tm = np.meshgrid(x, t)
        return X, Tm

    def sample_domain(self, n: int, rng: np.random.Generator, method: str = "halton",
                      early: bool = False) -> np.ndarray:
        r"""``n`` collocation points ``(x, t)`` in the interior, shape ``(n, 2)``.

        Args:
            n: number of points.
            rng: seeds the points.
            method: ``"halton"`` (scrambled) or ``"random"`` (uniform).
            early: place times at :math:`t = T s^2` (:math:`s` uniform), a density
                :math:`\propto t^{-1/2}` that puts more points where fast modes still live.
        """
        u = _unit_points(n, 2, rng, method)
        x0, L = self.domain[0], self.length
        s = u[:, 1] ** 2 if early else u[:, 1]
        return np.stack([x0 + L * u[:, 0], self.T * s], axis=1)

    def sample_initial(self, n: int, rng: np.random.Generator,
                       method: str = "halton") -> tuple[np.ndarray, np.ndarray]:
        """``n`` points on ``t = 0`` and their values :math:`u_0(x)`: ``(n, 2)``, ``(n,)``."""
        u = _unit_points(n, 1, rng, method)[:, 0]
        x = self.domain[0] + self.length * u
        return np.stack([x, np.zeros_like(x)], axis=1), self.u0(x)

    def sample_boundary(self, n: int, rng: np.random.Generator,
                        method: str = "halton") -> tuple[np.ndarray, np.ndarray]:
        """``n`` points on ``x = x0`` and ``x = x1`` (alternating) and their Dirichlet values."""
        t = self.T * _unit_points(n, 1, rng, method)[:, 0]
        side = np.arange(n) % 2
        x = np.where(side == 0, self.domain[0], self.domain[1])
        values = np.where(side == 0, self.bc[0], self.bc[1]).astype(float)
        return np.stack([x, t], axis=1), values

    def observations(self, n: int, noise: float = 0.0, seed: int = 0,
                     early: bool = False) -> tuple[np.ndarray, np.ndarray]:
        r"""``n`` noisy samples of the reference solution at random points.

        Noise is relative to the spread of the data (the DeepMoD convention):
        :math:`u_i + \sigma\,\mathrm{std}(u)\,\varepsilon_i`, :math:`\varepsilon_i \sim N(0,1)`.

        Args:
            n: number of samples.
            noise: :math:`\sigma` (``0.01`` = 1 %).
            seed: seeds the points and the noise.
            early: times :math:`t = T s^2` instead of uniform (see :meth:`sample_domain`).

        Returns:
            ``xt`` of shape ``(n, 2)`` and ``u`` of shape ``(n,)``.
        """
        n = int(n)
        if n < 1:
            raise PhysDistillError(f"the number of observations must be >= 1, got {n}")
        noise = check_value("noise", noise)
        if noise < 0:
            raise PhysDistillError(f"noise must be >= 0 (e.g. 0.01 for 1%), got {noise}")
        rng = np.random.default_rng(seed)
        x = rng.uniform(*self.domain, n)
        s = rng.uniform(0.0, 1.0, n)
        t = self.T * (s * s if early else s)
        u = self.reference(x, t)
        if noise > 0:
            u = u + noise * float(np.std(u)) * rng.standard_normal(n)
        return np.stack([x, t], axis=1), u

    def describe(self) -> dict[str, Any]:
        """JSON-ready description (for metrics and checkpoints)."""
        return {"alpha": self.alpha, "ic": self.ic, "domain": list(self.domain), "T": self.T,
                "bc": list(self.bc), "reference": self.reference_kind,
                "modes": [list(m) for m in (self.sine_series or ())]}

    @classmethod
    def from_description(cls, d: dict[str, Any]) -> HeatProblem:
        """Rebuild from :meth:`describe` output (checkpoints, run folders)."""
        try:
            return cls(alpha=d["alpha"], ic=d["ic"], domain=tuple(d["domain"]), T=d["T"],
                       bc=tuple(d["bc"]))
        except (KeyError, TypeError) as exc:
            raise PhysDistillError(f"stored heat problem is incomplete ({exc})") from None


def _unit_points(n: int, dim: int, rng: np.random.Generator, method: str) -> np.ndarray:
    n = int(n)
    if n < 1:
        raise PhysDistillError(f"number of points must be >= 1, got {n}")
    if method == "random":
        return rng.uniform(0.0, 1.0, (n, dim))
    if method == "halton":
        from scipy.stats import qmc

        seed = int(rng.integers(0, 2**31 - 1))
        return qmc.Halton(d=dim, scramble=True, seed=seed).random(n)
    raise PhysDistillError(f"unknown sampling method {method!r}; expected 'halton' or 'random'")


def finite_difference(problem: HeatProblem, nx: int = 801,
                      nt: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Crank–Nicolson solve of the problem on a uniform grid.

    Second-order in space and time; the first step is replaced by four implicit-Euler quarter
    steps (Rannacher start) to damp the oscillations an IC/BC mismatch would cause.

    Returns:
        ``x`` (nx,), ``t`` (nt+1,), ``U`` (nt+1, nx).
    """
    from scipy.linalg import solve_banded

    x = np.linspace(*problem.domain, nx)
    t = np.linspace(0.0, problem.T, nt + 1)
    dx, dt = x[1] - x[0], t[1] - t[0]
    m = nx - 2
    U = np.empty((nt + 1, nx))
    U[0] = problem.u0(x)
    U[0, 0], U[0, -1] = problem.bc
    ul, ur = problem.bc

    def banded(theta_dt: float) -> np.ndarray:
        r = problem.alpha * theta_dt / dx**2
        ab = np.zeros((3, m))
        ab[0, 1:] = -r
        ab[1, :] = 1 + 2 * r
        ab[2, :-1] = -r
        return ab

    def lap(u: np.ndarray) -> np.ndarray:
        out = -2 * u[1:-1]
        out[:-1] += u[2:-1]
        out[1:] += u[1:-2]
        out[0] += ul
        out[-1] += ur
        return out

    def bc_rhs(r: float) -> np.ndarray:
        v = np.zeros(m)
        v[0] += r * ul
        v[-1] += r * ur
        return v

    # Rannacher: four implicit-Euler quarter steps
    ab_ie = banded(dt / 4)
    r_ie = problem.alpha * (dt / 4) / dx**2
    u = U[0].copy()
    for _ in range(4):
        u[1:-1] = solve_banded((1, 1), ab_ie, u[1:-1] + bc_rhs(r_ie))
    U[1] = u
    ab_cn = banded(dt / 2)
    r_cn = problem.alpha * (dt / 2) / dx**2
    for n in range(1, nt):
        rhs = U[n, 1:-1] + r_cn * lap(U[n]) + bc_rhs(r_cn)
        U[n + 1, 0], U[n + 1, -1] = ul, ur
        U[n + 1, 1:-1] = solve_banded((1, 1), ab_cn, rhs)
    return x, t, U


def relative_l2(pred: Any, ref: Any) -> float:
    r""":math:`\|p - r\|_2 / \|r\|_2` over all entries."""
    pred, ref = np.asarray(pred, float), np.asarray(ref, float)
    return float(np.linalg.norm(pred - ref) / max(np.linalg.norm(ref), 1e-300))
