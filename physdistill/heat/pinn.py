r"""The heat PINN: the general PDE network (:class:`physdistill.pde.model.PINN`) on the heat
problem, with alpha as its one coefficient.

:math:`u_t = \alpha u_{xx}` is :meth:`HeatProblem.as_pde` in the general machinery, so the
network, its input scaling and the hard constraint are those of :mod:`physdistill.pde.model`:
inputs scaled to :math:`[-1, 1]^2`, and (``hard``) the output transform

.. math::

    u(x, t) = u_0(x) + \frac{t}{T}\,(1 - \hat x^2)\, N(\hat x, \hat t),

which meets the initial condition exactly, and the boundary values whenever :math:`u_0` does
(``HeatProblem.compatible``). Without it, :math:`u = N` and the IC/BC enter the loss.
Derivatives come from :func:`physdistill.pde.model.derivatives` (a forward-mode Taylor jet,
:mod:`physdistill.pde.jet`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch

from physdistill.errors import PhysDistillError
from physdistill.heat.problem import HeatProblem
from physdistill.pde.model import PINN, NetConfig, derivatives


@dataclass(frozen=True)
class ModelConfig(NetConfig):
    """Network settings: :class:`~physdistill.pde.model.NetConfig` (default 2-[20]x3-1, the
    DeepXDE example; ``hard="auto"``) plus alpha.

    Args:
        learn_alpha: make alpha a trainable parameter (inverse problem).
        alpha_init: its starting value (default 1.0).
    """

    learn_alpha: bool = False
    alpha_init: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        a = self.alpha_init
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not (math.isfinite(a)
                                                                          and a > 0):
            raise PhysDistillError(f"ModelConfig.alpha_init must be a positive number, got "
                                   f"{a!r}")


class HeatPINN(PINN):
    r"""PINN for a :class:`HeatProblem`: :math:`(x, t) \mapsto u`.

    Attributes:
        heat_problem, heat_config: what it was built from (``problem`` and ``config`` are the
            general PDE problem and network settings).
        hard: whether the output transform is on.

    Shapes:
        ``forward``: points ``(x, t)`` in physical units, ``(n, 2) -> (n,)``.
    """

    def __init__(self, problem: HeatProblem, config: ModelConfig | None = None) -> None:
        config = config or ModelConfig()
        if config.hard == "on" and not problem.compatible:
            x0, x1 = problem.domain
            raise PhysDistillError(
                f"the hard constraint needs an initial condition that meets the boundary "
                f"values; {problem.ic!r} gives u0({x0:g})={float(problem.u0(x0)):.6g}, "
                f"u0({x1:g})={float(problem.u0(x1)):.6g} with bc={problem.bc}; use hard='off' "
                "(IC and BCs in the loss)")
        super().__init__(problem.as_pde(config.learn_alpha),
                         dataclasses.replace(config, coef_init=(("alpha", config.alpha_init),)))
        self.heat_problem, self.heat_config = problem, config

    @property
    def hard(self) -> bool:
        return self.hard_ic

    @property
    def alpha(self) -> torch.Tensor:
        return self.coefficients["alpha"]

    def alpha_value(self) -> float:
        return float(self.alpha.detach())

    def derivatives(self, xt: torch.Tensor, order: int = 2,
                    create_graph: bool = True) -> dict[str, torch.Tensor]:
        """``u, u_t, u_x, ..`` at ``xt`` (:func:`physdistill.pde.model.derivatives`)."""
        return derivatives(self, xt, order, create_graph)

    def describe(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self.heat_config), "hard": self.hard,
                "parameters": sum(p.numel() for p in self.net.parameters())}
