r"""The weak form of sparse PDE regression (WSINDy-style), for any field sampled on a grid.

A smooth test function :math:`\varphi` with compact support in a box inside the data turns
:math:`u_t = \sum_k \xi_k \theta_k` into one linear equation
:math:`\int \varphi\, u_t = \sum_k \xi_k \int \varphi\, \theta_k`, and integration by parts
moves the derivatives onto :math:`\varphi`, whose derivatives are exact:

.. math::

    \int \varphi\, u_t = -\int \varphi_t\, u, \qquad
    \int \varphi\, \partial_x^k u = (-1)^k \int \partial_x^k\varphi\, u, \qquad
    \int \varphi\, u^p u_x = -\tfrac{1}{p+1} \int \varphi_x\, u^{p+1},

    \int \varphi\, u^p u_{xx} = \tfrac{1}{p+1}\int \varphi_{xx} u^{p+1} - p \int \varphi\,
    u^{p-1} u_x^2,

    \int \varphi\, u^p u_{xxx} = -\tfrac{1}{p+1}\int \varphi_{xxx} u^{p+1}
    + \tfrac{3p}{2}\int \varphi_x u^{p-1} u_x^2 + \tfrac{p(p-1)}{2}\int \varphi\, u^{p-2} u_x^3 .

So the terms of PDE-FIND's library need :math:`u` and at most :math:`u_x`, never the second
or third derivative whose error dominates the strong form (a network fitted to KdV data to
6e-3 in :math:`u` has 11 % error in :math:`u_{xxx}`). Any other term (a product of two
derivatives, order 4 times a power) falls back to :math:`\int \varphi\,\theta` of its strong
column. Each integrand is smooth and vanishes to high order at the box edges, so the
trapezoid rule on the grid is accurate, and the integration averages noise.

Test functions: :math:`\varphi = (1 - \xi^2)^q (1 - \tau^2)^q` on boxes of half-width
``width_x``, ``width_t`` (shares of the grid's extent), centred on an ``n_x x n_t`` lattice
that keeps every box inside the grid (Messenger & Bortz 2021 use the same family).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.polynomial import polynomial as P

from physdistill.errors import PhysDistillError
from physdistill.pde.library import TermLibrary


@dataclass(frozen=True)
class WeakConfig:
    """Test functions of the weak form.

    Args:
        n_x, n_t: test-function centres along x and t (default 32 x 16 = 512 equations).
        width_x, width_t: box half-widths as shares of the grid's x and t extent (default
            0.15 and 0.25: wide enough that the test functions filter out the short-wave error
            of a fitted network, ``benchmarks/pde_discovery.py``).
        degree: ``q`` of :math:`(1 - \\xi^2)^q` (default 8; derivatives up to order ``q - 1``
            vanish at the box edges).
        grid: ``(nx, nt)`` points of the quadrature grid on which a network is evaluated
            (default 512 x 201).
    """

    n_x: int = 32
    n_t: int = 16
    width_x: float = 0.15
    width_t: float = 0.25
    degree: int = 8
    grid: tuple[int, int] = (512, 201)

    def __post_init__(self) -> None:
        for name, low in (("n_x", 1), ("n_t", 1), ("degree", 4)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise PhysDistillError(f"WeakConfig.{name} must be an integer >= {low}, got "
                                       f"{v!r}")
        for name in ("width_x", "width_t"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 0.5:
                raise PhysDistillError(f"WeakConfig.{name} must be in (0, 0.5], got {v!r}")
        g = tuple(self.grid)
        if len(g) != 2 or any(isinstance(n, bool) or not isinstance(n, int) or n < 16
                              for n in g):
            raise PhysDistillError(f"WeakConfig.grid must be two integers >= 16, got "
                                   f"{self.grid!r}")


#: one part of a weak column: (factor, x-order of phi, t-order of phi, integrand of the fields)
Part = tuple[float, int, int, Callable[[dict[str, np.ndarray]], np.ndarray]]
_DERIV = re.compile(r"^u_(x+)$")
_POWER = re.compile(r"^u(?:\^(\d+))?$")


def term_structure(name: str) -> tuple[int, int] | None:
    """``(p, k)`` when the library term ``name`` is :math:`u^p \\partial_x^k u`
    (``"1"`` is ``(0, 0)`` with no ``u``: returned as ``(-1, 0)``), else ``None``."""
    if name == "1":
        return -1, 0
    p, k = 0, 0
    for factor in name.split("*"):
        if m := _DERIV.match(factor):
            if k:
                return None
            k = len(m.group(1))
        elif m := _POWER.match(factor):
            p += int(m.group(1) or 1)
        else:
            return None
    if k == 0:  # u^p alone: written as u^(p-1) * u
        return p - 1, 0
    return p, k


def weak_parts(name: str) -> list[Part] | None:
    r"""The weak column of a library term as parts :math:`c \int \partial_x^a\partial_t^b
    \varphi \cdot g(u, u_x)` (see the module docstring); ``None`` for a term that is not
    :math:`u^p \partial_x^k u` with ``k <= 3`` (it is integrated in its strong form)."""
    s = term_structure(name)
    if s is None:
        return None
    p, k = s
    if p == -1:
        return [(1.0, 0, 0, lambda f: np.ones_like(f["u"]))]
    if k == 0:
        return [(1.0, 0, 0, lambda f, q=p + 1: f["u"] ** q)]
    if p == 0:
        return [(float((-1) ** k), k, 0, lambda f: f["u"])]
    up1 = lambda f, q=p + 1: f["u"] ** q
    if k == 1:
        return [(-1.0 / (p + 1), 1, 0, up1)]
    ux2 = lambda f, q=p - 1: f["u"] ** q * f["u_x"] ** 2
    if k == 2:
        return [(1.0 / (p + 1), 2, 0, up1), (-float(p), 0, 0, ux2)]
    if k == 3:
        parts: list[Part] = [(-1.0 / (p + 1), 3, 0, up1), (1.5 * p, 1, 0, ux2)]
        if p >= 2:
            parts.append((p * (p - 1) / 2, 0, 0, lambda f, q=p - 2: f["u"] ** q * f["u_x"] ** 3))
        return parts
    return None


def needed_order(library: TermLibrary) -> int:
    """Highest x-derivative of ``u`` that the weak columns of ``library`` read on the grid:
    0 or 1 for PDE-FIND's terms, the library's order when a term is integrated strongly."""
    order = 0
    for name in library.names():
        parts = weak_parts(name)
        if parts is None:
            return library.max_order
        if len(parts) > 1:
            order = 1
    return order


def _bump(n: int, q: int, order: int) -> list[np.ndarray]:
    """:math:`d^j/d\\xi^j (1 - \\xi^2)^q` for j = 0..order at ``n`` points of [-1, 1]."""
    xi = np.linspace(-1.0, 1.0, n)
    c = P.polypow([1.0, 0.0, -1.0], q)
    return [P.polyval(xi, P.polyder(c, j)) for j in range(order + 1)]


def weak_system(x: np.ndarray, t: np.ndarray, fields: dict[str, np.ndarray],
                library: TermLibrary, config: WeakConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""The weak-form regression problem :math:`G \xi \approx b` on a uniform grid.

    Args:
        x ``(nx,)``, t ``(nt,)``: uniform axes; fields: ``{"u": (nx, nt), "u_x": ..}`` up to
            the order :func:`needed_order` gives; library: the candidate terms.

    Returns:
        ``G (m, p)`` and ``b (m,)``, one row per test function (``m = n_x * n_t``).
    """
    config = config or WeakConfig()
    nx, nt = len(x), len(t)
    dx, dt = float(x[1] - x[0]), float(t[1] - t[0])
    for name, a, h in (("x", x, dx), ("t", t, dt)):
        if np.max(np.abs(np.diff(a) - h)) > 1e-6 * abs(h):
            raise PhysDistillError(f"the weak form needs a uniform grid; the {name} axis is not "
                                   "uniform (the network route evaluates on its own grid)")
    wx = max(2, round(config.width_x * (nx - 1)))
    wt = max(2, round(config.width_t * (nt - 1)))
    if 2 * wx + 1 > nx or 2 * wt + 1 > nt:
        raise PhysDistillError(f"the weak-form boxes ({2 * wx + 1} x {2 * wt + 1} points) do "
                               f"not fit the {nx} x {nt} grid; lower width_x / width_t")
    hx, ht = wx * dx, wt * dt
    px = _bump(2 * wx + 1, config.degree, 4)
    pt = _bump(2 * wt + 1, config.degree, 1)
    cx = np.unique(np.linspace(0, nx - 2 * wx - 1, config.n_x).round().astype(int))
    ct = np.unique(np.linspace(0, nt - 2 * wt - 1, config.n_t).round().astype(int))

    def integrate(g: np.ndarray, a: int, b: int) -> np.ndarray:
        win = sliding_window_view(g, (2 * wx + 1, 2 * wt + 1))[np.ix_(cx, ct)]
        phi = np.outer(px[a] / hx ** a, pt[b] / ht ** b)
        return np.einsum("ijkl,kl->ij", win, phi).ravel() * dx * dt

    names = library.names()
    strong = None
    cols = []
    for j, name in enumerate(names):
        parts = weak_parts(name)
        if parts is None:
            strong = strong if strong is not None else library.columns(fields)
            cols.append(integrate(np.asarray(strong[j], float), 0, 0))
            continue
        cols.append(sum(c * integrate(g(fields), a, b) for c, a, b, g in parts))
    rhs = -integrate(fields["u"], 0, 1)
    return np.stack(cols, 1), rhs
