"""Distil any PyG message-passing layer into equations (domain-free).

>>> result = distill_messages(model, graphs, {**displacement(2), "k": column("edge_attr", 0)},
...                           k=2, reference=["k*(r - 1)*dx/r", "k*(r - 1)*dy/r"])
>>> print(result.table())
>>> use_equations(layer, result)      # layer.message is now the equations (differentiable)
>>> use_network(layer)                # and back

It imports nothing from the domain packages (n-body, heat, pde); see ``docs/tutorial_gnn.md``.
"""

from __future__ import annotations

from physdistill.gnn.distill import distill_messages
from physdistill.gnn.features import FeatureSet, column, displacement
from physdistill.gnn.linfit import ChannelFit, fit_channel, fit_channels
from physdistill.gnn.options import DistillOptions
from physdistill.gnn.reference import Reference
from physdistill.gnn.result import MessageDistillation
from physdistill.gnn.switch import SymbolicMessage, use_equations, use_network

__all__ = ["ChannelFit", "DistillOptions", "FeatureSet", "MessageDistillation", "Reference",
           "SymbolicMessage", "column", "displacement", "distill_messages", "fit_channel",
           "fit_channels", "use_equations", "use_network"]
