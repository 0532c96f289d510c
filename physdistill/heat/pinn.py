r"""The PINN model: a tanh MLP, an optional hard-constraint output transform, and alpha.

The model knows nothing about the loss; :mod:`physdistill.heat.train` joins it with a
:class:`~physdistill.heat.problem.HeatProblem`. Inputs are scaled to :math:`[-1, 1]^2`:

.. math::

    \hat x = 2 (x - x_0)/L - 1, \qquad \hat t = 2 t / T - 1 .

With the hard constraint the output is

.. math::

    u(x, t) = u_0(x) + \frac{t}{T}\,(1 - \hat x^2)\, N(\hat x, \hat t),

which meets the initial condition exactly, and the boundary values whenever :math:`u_0` does
(``HeatProblem.compatible``). Without it, :math:`u = N` and the IC/BC enter the loss.

Derivatives (:math:`u_t, u_x, u_{xx}, u_{xxx}`) come from nested ``torch.autograd.grad``
(:func:`autograd_derivatives`), through the transform, so one code path serves training, PDE
discovery and any other model. (Forward-mode Taylor jets were tried: no faster on CPU for
this 921-parameter network, 1.3x at order 3 for 32 x 4; not worth a second path.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

import sympy
import torch
from torch import nn

from physdistill.errors import PhysDistillError
from physdistill.heat.problem import XSYM, HeatProblem


@dataclass(frozen=True)
class ModelConfig:
    """Network settings.

    Args:
        width: neurons per hidden layer (default 20, the DeepXDE example).
        depth: hidden layers (default 3).
        hard: output transform that enforces the IC and BCs exactly: ``"auto"`` (default: on
            when the IC meets the boundary values), ``"on"`` or ``"off"``.
        learn_alpha: make alpha a trainable parameter (inverse problem).
        alpha_init: its starting value (default 1.0).
    """

    width: int = 20
    depth: int = 3
    hard: str = "auto"
    learn_alpha: bool = False
    alpha_init: float = 1.0

    def __post_init__(self) -> None:
        for name in ("width", "depth"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise PhysDistillError(f"ModelConfig.{name} must be a positive integer, "
                                       f"got {v!r}")
        if self.hard not in ("auto", "on", "off"):
            raise PhysDistillError(f"ModelConfig.hard must be 'auto', 'on' or 'off', got "
                                   f"{self.hard!r}")
        a = self.alpha_init
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not (math.isfinite(a)
                                                                          and a > 0):
            raise PhysDistillError(f"ModelConfig.alpha_init must be a positive number, got "
                                   f"{a!r}")


class MLP(nn.Module):
    r"""Fully connected tanh network :math:`\mathbb{R}^{2} \to \mathbb{R}`.

    Glorot-normal weights, zero biases. Shapes: ``(n, 2) -> (n, 1)``.
    """

    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        sizes = [2] + [width] * depth + [1]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(sizes))
        for layer in self.layers:
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            z = torch.tanh(layer(z))
        return self.layers[-1](z)


def _ic_function(problem: HeatProblem) -> Callable[[torch.Tensor], torch.Tensor]:
    """:math:`u_0` as a torch function (sympy prints the whitelisted tree; no user text)."""
    f = sympy.lambdify([XSYM], sympy.N(problem.ic_expr), modules="torch")
    return lambda x: f(x) + 0 * x  # + 0*x: a constant IC broadcasts to x's shape


class HeatPINN(nn.Module):
    r"""PINN for a :class:`HeatProblem`: :math:`(x, t) \mapsto u`.

    Args:
        problem: the problem (its IC and boundary values feed the output transform).
        config: :class:`ModelConfig`.

    Attributes:
        hard: whether the output transform is on.
        alpha: the diffusivity (a parameter with ``learn_alpha``, else a buffer).

    Shapes:
        ``forward``: points ``(x, t)`` in physical units, ``(n, 2) -> (n,)``.
    """

    def __init__(self, problem: HeatProblem, config: ModelConfig | None = None) -> None:
        super().__init__()
        config = config or ModelConfig()
        self.problem = problem
        self.config = config
        if config.hard == "on" and not problem.compatible:
            x0, x1 = problem.domain
            raise PhysDistillError(
                f"the hard constraint needs an initial condition that meets the boundary "
                f"values; {problem.ic!r} gives u0({x0:g})={float(problem.u0(x0)):.6g}, "
                f"u0({x1:g})={float(problem.u0(x1)):.6g} with bc={problem.bc}; use hard='off' "
                "(IC and BCs in the loss)")
        self.hard = config.hard == "on" or (config.hard == "auto" and problem.compatible)
        self._u0 = _ic_function(problem) if self.hard else None
        self.net = MLP(config.width, config.depth)
        if config.learn_alpha:
            self.alpha = nn.Parameter(torch.tensor(float(config.alpha_init)))
        else:
            self.register_buffer("alpha", torch.tensor(float(problem.alpha)))
        self._x0, self._L, self._T = problem.domain[0], problem.length, problem.T

    def forward(self, xt: torch.Tensor) -> torch.Tensor:
        x = 2 * (xt[:, 0] - self._x0) / self._L - 1
        t = 2 * xt[:, 1] / self._T - 1
        n = self.net(torch.stack([x, t], dim=1))[:, 0]
        if not self.hard:
            return n
        return self._u0(xt[:, 0]) + xt[:, 1] / self._T * (1 - x * x) * n

    def derivatives(self, xt: torch.Tensor, order: int = 2,
                    create_graph: bool = True) -> dict[str, torch.Tensor]:
        """``u, u_t, u_x`` and up to ``u_xxx`` at ``xt`` (see :func:`autograd_derivatives`)."""
        return autograd_derivatives(self, xt, order, create_graph)

    def alpha_value(self) -> float:
        return float(self.alpha.detach())

    def describe(self) -> dict[str, Any]:
        return {**asdict(self.config), "hard": self.hard,
                "parameters": sum(p.numel() for p in self.net.parameters())}


def autograd_derivatives(model: nn.Module, xt: torch.Tensor, order: int = 2,
                         create_graph: bool = True) -> dict[str, torch.Tensor]:
    """Derivatives of any ``model(xt) -> (n,)`` by nested ``torch.autograd.grad``.

    Args:
        model: maps points ``(n, 2)`` (columns ``x, t``) to ``(n,)``.
        xt: the points.
        order: highest x-derivative (1 to 3).
        create_graph: keep the graph (for training); otherwise the results are detached.

    Returns:
        ``u, u_t, u_x`` and, by ``order``, ``u_xx``, ``u_xxx``; each of shape ``(n,)``.
    """
    if order not in (1, 2, 3):
        raise PhysDistillError(f"derivative order must be 1, 2 or 3, got {order!r}")
    xt = xt.detach().requires_grad_(True)
    with torch.enable_grad():
        u = model(xt)
        g = torch.autograd.grad(u.sum(), xt, create_graph=True)[0]
        out = {"u": u, "u_t": g[:, 1], "u_x": g[:, 0]}
        cur = g[:, 0]
        for k in range(2, order + 1):
            cur = torch.autograd.grad(cur.sum(), xt, create_graph=True)[0][:, 0]
            out["u_" + "x" * k] = cur
    if not create_graph:
        out = {k: v.detach() for k, v in out.items()}
    return out
