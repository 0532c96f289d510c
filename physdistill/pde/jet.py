r"""Forward-mode (Taylor-mode) derivatives of the PDE networks: one pass, no nested autograd.

A jet of a field :math:`f(x, t)` at ``n`` points is a list of ``K + 2`` rows, each a tensor
of shape ``(n, ...)`` (or ``0.0`` for a row known to be zero): rows ``0..K`` hold the normalised Taylor coefficients in :math:`x`,
:math:`f_k = \partial_x^k f / k!`, and row ``K + 1`` holds :math:`\partial_t f`. The rules
(``K`` = :data:`~physdistill.pde.equation.MAX_ORDER` at most):

* a linear map acts on every row; its bias enters row 0 only;
* a product is the Cauchy product in :math:`x`, :math:`(fg)_k = \sum_j f_j g_{k-j}`, and the
  product rule in :math:`t`, :math:`(fg)_t = f_t g_0 + f_0 g_t`;
* :math:`s = \tanh a` follows from :math:`s' = (1 - s^2)\,a'`: with :math:`q = 1 - s^2`,

  .. math::

      s_k = \frac1k \sum_{j=1}^{k} j\, a_j\, q_{k-j}, \qquad
      q_k = -\sum_{j=0}^{k} s_j s_{k-j}\ (k \ge 1), \qquad s_t = q_0\, a_t.

The loss gradient then needs one reverse pass through these rows, where nested autograd
(:func:`physdistill.pde.model.derivatives` with ``method="autograd"``) builds and
differentiates a graph per derivative order;
``python benchmarks/burgers_forward.py --run derivatives`` compares the two per Adam step.
Tested equal to nested autograd to float64 round-off.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from physdistill.pde.equation import FIELDS

Jet = list  # of tensors: rows 0..K, then the t row (a list: no stack / select in backward)


def constant(value: torch.Tensor, order: int) -> Jet:
    """A jet whose rows are zero except row 0, ``value`` (zero rows are ``0.0`` scalars)."""
    return [value] + [0.0] * (order + 1)


def affine_x(x: torch.Tensor, scale: float, offset: float, order: int) -> Jet:
    """Jet of ``scale * x + offset`` (x a coordinate)."""
    out = constant(scale * x + offset, order)
    if order >= 1:
        out[1] = torch.full_like(x, scale)
    return out


def affine_t(t: torch.Tensor, scale: float, offset: float, order: int) -> Jet:
    """Jet of ``scale * t + offset`` (t the time coordinate)."""
    out = constant(scale * t + offset, order)
    out[-1] = torch.full_like(t, scale)
    return out


def sinusoid(theta: torch.Tensor, omega: float, order: int, phase: float = 0.0) -> Jet:
    r"""Jet of :math:`\cos(\theta + \varphi)` where :math:`\theta` is affine in x with slope
    :math:`\omega`: :math:`f_k = \omega^k \cos(\theta + \varphi + k\pi/2) / k!`."""
    out = [omega ** k * torch.cos(theta + phase + k * math.pi / 2) / math.factorial(k)
           for k in range(order + 1)]
    return out + [torch.zeros_like(theta)]


def from_derivatives(funcs: list[Callable[[torch.Tensor], torch.Tensor]], x: torch.Tensor
                     ) -> Jet:
    """Jet of a function of x alone, from callables of its 0th..Kth derivatives."""
    return [f(x) / math.factorial(k) for k, f in enumerate(funcs)] + [0.0]


def stack(jets: list[Jet]) -> Jet:
    """Jets of scalar fields ``(n,)`` -> the jet of the vector field ``(n, len(jets))``."""
    rows: Jet = []
    for r in zip(*jets):
        like = next((v for v in r if isinstance(v, torch.Tensor)), None)
        rows.append(0.0 if like is None else torch.stack(
            [v if isinstance(v, torch.Tensor) else torch.full_like(like, v) for v in r], -1))
    return rows


def _mul(a: torch.Tensor | float, b: torch.Tensor | float) -> torch.Tensor | float:
    """``a * b``, skipping the work when a factor is a zero row (``0.0``)."""
    if isinstance(a, float) and a == 0.0 or isinstance(b, float) and b == 0.0:
        return 0.0
    return a * b


def add(f: Jet, g: Jet) -> Jet:
    """Jet of a sum."""
    return [a + b for a, b in zip(f, g)]


def multiply(f: Jet, g: Jet) -> Jet:
    """Jet of the product of two jets of the same order."""
    order = len(f) - 2
    rows = [sum(_mul(f[j], g[k - j]) for j in range(k + 1)) for k in range(order + 1)]
    return rows + [_mul(f[-1], g[0]) + _mul(f[0], g[-1])]


def tanh(a: Jet) -> Jet:
    r"""Jet of ``tanh`` of a jet (recurrence in the module docstring), written with
    :math:`p_m = -q_m / 2`: :math:`s_k = q_0 a_k - \sum_{j=1}^{k-1} \frac{2j}{k} a_j p_{k-j}`."""
    order = len(a) - 2
    s = [torch.tanh(a[0])]
    q0 = 1 - s[0] * s[0]
    s += [_mul(q0, r) for r in a[1:]]
    p: list[torch.Tensor] = [s[0]]  # p[0] unused
    for k in range(2, order + 1):
        m = k - 1
        pm = sum(_mul(s[j], s[m - j]) for j in range((m + 1) // 2))
        if m % 2 == 0:
            pm = pm + _mul(0.5 * s[m // 2], s[m // 2])
        p.append(pm)
        s[k] = s[k] - sum(_mul(a[j], p[k - j]) if 2 * j == k else
                          _mul(_mul(2 * j / k, a[j]), p[k - j]) for j in range(1, k))
    return s


def linear(layer: torch.nn.Linear, z: Jet) -> Jet:
    """Jet of ``layer(z)``; rows ``(n, d_in)`` -> ``(n, d_out)``."""
    return [torch.nn.functional.linear(z[0], layer.weight, layer.bias)] + [
        r @ layer.weight.T if isinstance(r, torch.Tensor) else 0.0 for r in z[1:]]


def fields(jet: Jet) -> dict[str, torch.Tensor]:
    """``{"u", "u_t", "u_x", ...}`` (each ``(n,)``) from the jet of ``u``."""
    order = len(jet) - 2
    out = {"u": jet[0], "u_t": jet[-1]}
    for k in range(1, order + 1):
        out[FIELDS[k]] = jet[k] * math.factorial(k)
    return out
