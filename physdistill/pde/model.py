r"""The PINN for any :class:`~physdistill.pde.problem.PDEProblem`, and autograd derivatives.

Inputs are scaled to :math:`[-1, 1]`: :math:`\hat x = 2(x - x_0)/L - 1`,
:math:`\hat t = 2t/T - 1`. For a periodic problem the network sees
:math:`(\cos(m\pi(\hat x + 1)), \sin(m\pi(\hat x + 1)))_{m=1..M}` instead of :math:`\hat x`, so its
output is exactly :math:`L`-periodic. Output transforms (``hard``):

* periodic, IC periodic: :math:`u = u_0(x) + \frac{t}{T} N` (IC and BC exact);
* Dirichlet, IC meeting the boundary values: :math:`u = u_0(x) + \frac{t}{T}(1 - \hat x^2) N`;
* Neumann (or ``hard="off"``, or an IC that misses the BCs): IC exact when ``hard`` is on
  (:math:`u = u_0 + \frac{t}{T} N`), boundary terms in the loss; with ``hard="off"``
  :math:`u = N` and IC/BC both in the loss.

Coefficients of the PDE are buffers (known) or parameters (learned, inverse runs).

Derivatives: :func:`derivatives` propagates a Taylor jet through the network in one forward
pass (:mod:`physdistill.pde.jet`) whenever the model's ``jet`` matches its ``forward``, and
falls back to nested autograd otherwise (a subclass that overrides only ``forward``).

Shapes: ``forward``: ``(n, 2)`` points ``(x, t)`` in physical units ``-> (n,)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

import sympy
import torch
from torch import nn

from physdistill.errors import PhysDistillError
from physdistill.pde import jet as jets
from physdistill.pde.equation import FIELDS, MAX_ORDER

DERIVATIVE_METHODS = ("auto", "jet", "autograd")


def pairs(value: Any, what: str, shape: str) -> dict[Any, Any]:
    """``dict(value)`` of a config field given as pairs, or one error naming the field."""
    try:
        return dict(value)
    except (TypeError, ValueError):
        raise PhysDistillError(f"{what} must be pairs {shape}, got {value!r}") from None


@dataclass(frozen=True)
class NetConfig:
    """Network settings.

    Args:
        width: neurons per hidden layer (default 20).
        depth: hidden layers (default 3).
        hard: ``"auto"`` (default: the strongest transform the BCs and IC allow), ``"on"`` or
            ``"off"`` (see the module docstring).
        harmonics: Fourier harmonics M of the periodic x-embedding (default 1).
        coef_init: ``((name, start), ...)`` for learned coefficients (default start 1.0).
    """

    width: int = 20
    depth: int = 3
    hard: str = "auto"
    harmonics: int = 1
    coef_init: tuple[tuple[str, float], ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("width", "depth", "harmonics"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise PhysDistillError(f"NetConfig.{name} must be a positive integer, got {v!r}")
        if self.hard not in ("auto", "on", "off"):
            raise PhysDistillError(f"NetConfig.hard must be 'auto', 'on' or 'off', got "
                                   f"{self.hard!r}")
        init = pairs(self.coef_init, "NetConfig.coef_init", "(name, start)")
        for k, v in init.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise PhysDistillError(f"NetConfig.coef_init[{k!r}] must be a finite number, "
                                       f"got {v!r}")
        # pairs as tuples, so a config read back from JSON compares equal
        object.__setattr__(self, "coef_init", tuple((str(k), v) for k, v in init.items()))


class MLP(nn.Module):
    r"""tanh MLP :math:`\mathbb{R}^{d} \to \mathbb{R}`, Glorot-normal weights, zero biases.

    Shapes: ``(n, d) -> (n, 1)``.
    """

    def __init__(self, inputs: int, width: int, depth: int) -> None:
        super().__init__()
        sizes = [inputs] + [width] * depth + [1]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(sizes))
        for layer in self.layers:
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            z = torch.tanh(layer(z))
        return self.layers[-1](z)

    def jet(self, z: jets.Jet) -> jets.Jet:
        """The jet (:mod:`physdistill.pde.jet`) of the output from that of the input; rows
        ``(n, d) -> (n, 1)``."""
        for layer in self.layers[:-1]:
            z = jets.tanh(jets.linear(layer, z))
        return jets.linear(self.layers[-1], z)


class FieldNet(nn.Module):
    r"""A scaled MLP :math:`(x, t) \mapsto u` on a box, without any PDE (data fits use it).

    Args:
        domain: ``(x0, x1)``; T: length of the time span, which starts at ``t0`` (default 0);
            config: :class:`NetConfig`; periodic: use the periodic embedding.
    """

    def __init__(self, domain: tuple[float, float], T: float, config: NetConfig,
                 periodic: bool = False, t0: float = 0.0) -> None:
        super().__init__()
        self.config, self.periodic = config, periodic
        self._x0, self._L, self._T = float(domain[0]), float(domain[1] - domain[0]), float(T)
        self._t0 = float(t0)
        self.net = MLP(1 + (2 * config.harmonics if periodic else 1), config.width,
                       config.depth)

    def scaled(self, xt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return 2 * (xt[:, 0] - self._x0) / self._L - 1, 2 * (xt[:, 1] - self._t0) / self._T - 1

    def raw(self, xt: torch.Tensor) -> torch.Tensor:
        x, t = self.scaled(xt)
        if self.periodic:
            m = torch.arange(1, self.config.harmonics + 1, dtype=x.dtype, device=x.device)
            ang = math.pi * (x[:, None] + 1) * m
            feats = torch.cat([torch.cos(ang), torch.sin(ang), t[:, None]], 1)
        else:
            feats = torch.stack([x, t], 1)
        return self.net(feats)[:, 0]

    def forward(self, xt: torch.Tensor) -> torch.Tensor:
        return self.raw(xt)

    def raw_jet(self, xt: torch.Tensor, order: int) -> jets.Jet:
        """The jet (:mod:`physdistill.pde.jet`) of :meth:`raw`: ``order + 2`` rows ``(n,)``."""
        t = jets.affine_t(xt[:, 1], 2 / self._T, -2 * self._t0 / self._T - 1, order)
        if self.periodic:
            x = 2 * (xt[:, 0] - self._x0) / self._L - 1
            feats = []
            for phase in (0.0, -math.pi / 2):  # cos, then sin = cos(. - pi/2)
                for m in range(1, self.config.harmonics + 1):
                    feats.append(jets.sinusoid(math.pi * m * (x + 1), 2 * math.pi * m / self._L,
                                               order, phase))
            feats.append(t)
        else:
            feats = [jets.affine_x(xt[:, 0], 2 / self._L, -2 * self._x0 / self._L - 1, order),
                     t]
        return [r[:, 0] for r in self.net.jet(jets.stack(feats))]

    def jet(self, xt: torch.Tensor, order: int) -> jets.Jet:
        """The jet of :meth:`forward` at ``xt``: ``order + 2`` rows ``(n,)``."""
        return self.raw_jet(xt, order)

    @property
    def jet_matches_forward(self) -> bool:
        """Whether :meth:`jet` differentiates :meth:`forward` (both from the same class)."""
        def owner(name: str) -> type:
            return next(c for c in type(self).__mro__ if name in c.__dict__)
        return owner("jet") is owner("forward")


class PINN(FieldNet):
    """The network of a PDE problem, with its output transform and coefficients.

    Attributes:
        hard_ic, hard_bc: which conditions the transform enforces exactly.
        coefficients: ``{name: tensor}`` (parameters for learned ones).
    """

    def __init__(self, problem: Any, config: NetConfig | None = None) -> None:
        config = config or NetConfig()
        super().__init__(problem.domain, problem.T, config, problem.bc == "periodic")
        self.problem = problem
        ok = problem.hard_compatible
        if config.hard == "on" and not ok and problem.bc != "neumann":
            raise PhysDistillError(
                f"the hard constraint needs an initial condition that meets the {problem.bc} "
                f"boundary condition; {problem.ic!r} does not; use hard='off'")
        on = config.hard == "on" or (config.hard == "auto" and (ok or problem.bc == "neumann"))
        self.hard_ic = on
        self.hard_bc = problem.bc == "periodic" or (on and problem.bc == "dirichlet" and ok)
        self._u0 = _torch_function(problem.ic_expr) if on else None
        self._u0_derivatives: list = []  # u0 and its x-derivatives, built by jet() on demand
        init = dict(config.coef_init)
        self.learned = nn.ParameterDict({c: nn.Parameter(torch.tensor(float(init.get(c, 1.0))))
                                         for c in problem.learn})
        for c, v in problem.values.items():
            if c not in problem.learn:
                self.register_buffer(f"coef_{c}", torch.tensor(float(v)))

    @property
    def coefficients(self) -> dict[str, torch.Tensor]:
        out = {c: getattr(self, f"coef_{c}") for c in self.problem.values
               if c not in self.problem.learn}
        out.update(dict(self.learned.items()))
        return out

    def coefficient_values(self) -> dict[str, float]:
        return {k: float(v.detach()) for k, v in self.coefficients.items()}

    def forward(self, xt: torch.Tensor) -> torch.Tensor:
        n = self.raw(xt)
        if not self.hard_ic:
            return n
        tau = xt[:, 1] / self._T
        if self.problem.bc == "dirichlet" and self.hard_bc:
            x, _ = self.scaled(xt)
            return self._u0(xt[:, 0]) + tau * (1 - x * x) * n
        return self._u0(xt[:, 0]) + tau * n

    def jet(self, xt: torch.Tensor, order: int) -> jets.Jet:
        """The jet of :meth:`forward` (the output transform by the product rule)."""
        n = self.raw_jet(xt, order)
        if not self.hard_ic:
            return n
        while len(self._u0_derivatives) <= order:
            k = len(self._u0_derivatives)
            self._u0_derivatives.append(_torch_function(sympy.diff(self.problem.ic_expr,
                                                                   sympy.Symbol("x"), k)))
        u0 = jets.from_derivatives(self._u0_derivatives[:order + 1], xt[:, 0])
        factor = jets.affine_t(xt[:, 1], 1 / self._T, 0.0, order)
        if self.problem.bc == "dirichlet" and self.hard_bc:
            x = jets.affine_x(xt[:, 0], 2 / self._L, -2 * self._x0 / self._L - 1, order)
            wall = [-r for r in jets.multiply(x, x)]
            wall[0] = wall[0] + 1  # 1 - x^2
            factor = jets.multiply(factor, wall)
        return jets.add(u0, jets.multiply(factor, n))

    def describe(self) -> dict[str, Any]:
        return {**asdict(self.config), "hard_ic": self.hard_ic, "hard_bc": self.hard_bc,
                "parameters": sum(p.numel() for p in self.net.parameters())}


def _torch_function(expr: sympy.Expr) -> Any:
    """``x -> expr(x)`` on torch tensors, broadcast to the shape of ``x``."""
    f = sympy.lambdify([sympy.Symbol("x")], sympy.N(expr), modules="torch")
    return lambda x: f(x) + 0 * x


def derivatives(model: nn.Module, xt: torch.Tensor, order: int = 2,
                create_graph: bool = True, method: str = "auto") -> dict[str, torch.Tensor]:
    """``u, u_t`` and ``u_x .. u_x^order`` of ``model(xt) -> (n,)``.

    Args:
        model: maps ``(n, 2)`` points (columns ``x, t``) to ``(n,)``.
        xt: the points; order: highest x-derivative (1 to :data:`MAX_ORDER`).
        create_graph: keep the graph (training); otherwise the results are detached.
        method: ``"jet"`` (one forward pass, :mod:`physdistill.pde.jet`; needs a
            :class:`FieldNet` whose ``jet`` matches its ``forward``), ``"autograd"`` (nested
            reverse mode, any model) or ``"auto"`` (default: the jet where it applies).

    Returns:
        ``{"u", "u_t", "u_x", ...}``, each ``(n,)``.
    """
    if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= MAX_ORDER:
        raise PhysDistillError(f"derivative order must be 1 to {MAX_ORDER}, got {order!r}")
    if method not in DERIVATIVE_METHODS:
        raise PhysDistillError(f"derivative method must be one of {DERIVATIVE_METHODS}, got "
                               f"{method!r}")
    has_jet = isinstance(model, FieldNet) and model.jet_matches_forward
    if method == "jet" and not has_jet:
        raise PhysDistillError(f"method='jet' needs a FieldNet whose jet() matches its "
                               f"forward(); {type(model).__name__} has none; use "
                               "method='autograd'")
    if has_jet and method != "autograd":
        with torch.set_grad_enabled(create_graph):
            return jets.fields(model.jet(xt, order))
    xt = xt.detach().requires_grad_(True)
    with torch.enable_grad():
        u = model(xt)
        g = torch.autograd.grad(u.sum(), xt, create_graph=True)[0]
        out = {"u": u, "u_t": g[:, 1], "u_x": g[:, 0]}
        cur = g[:, 0]
        for k in range(2, order + 1):
            cur = torch.autograd.grad(cur.sum(), xt, create_graph=True)[0][:, 0]
            out[FIELDS[k]] = cur
    if not create_graph:
        out = {k: v.detach() for k, v in out.items()}
    return out


def residual(model: PINN, xt: torch.Tensor, coeffs: Mapping[str, torch.Tensor] | None = None,
             create_graph: bool = True) -> torch.Tensor:
    r""":math:`u_t - F(u, u_x, \dots)` of ``model`` at ``xt``, shape ``(n,)`` (detached
    with ``create_graph=False``)."""
    eq = model.problem.equation
    d = derivatives(model, xt, max(eq.order, 1), create_graph)
    rhs = eq.rhs(d, model.coefficients if coeffs is None else coeffs, xt[:, 0], xt[:, 1])
    return d["u_t"] - rhs if create_graph else (d["u_t"] - rhs).detach()
