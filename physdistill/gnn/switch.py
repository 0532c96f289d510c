r"""Put a distillation's equations in the place of a layer's ``message()``, and back.

:func:`use_equations` sets the layer's ``message`` (on the instance; the class is untouched) to
a :class:`SymbolicMessage`: the features are computed from the same ``message()`` arguments
with torch, and each kept channel is its equation as a
:class:`~physdistill.symbolic.TorchExpression`, so the layer stays differentiable (with respect
to its inputs, and to the equations' constants with ``trainable=True``) and runs on the
device of its inputs. PyG's ``propagate`` calls ``self.message(**kwargs)`` with the arguments
named by the class's ``message`` signature, so aggregation, update and message hooks are
unchanged. The module is registered as the layer's submodule ``symbolic_message`` (so
``.to(device)``, ``.parameters()`` and ``state_dict()`` see it) until :func:`use_network`.

Channels that were not kept take ``rest="mean"``: their mean over the recorded edges, or
``rest="network"``: the layer's own message (run alongside).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from physdistill.errors import PhysDistillError
from physdistill.gnn.result import MessageDistillation

ATTR = "symbolic_message"
RESTS = ("mean", "network")


class SymbolicMessage(nn.Module):
    """The equations of a :class:`~physdistill.gnn.result.MessageDistillation` as a message
    function.

    Shapes:
        keyword arguments as the layer's ``message()`` receives them (``[E, *]`` tensors);
        output ``[E, width]``.
    """

    def __init__(self, result: MessageDistillation, equations: Mapping[int, Any],
                 trainable: bool, rest: str, network: Any) -> None:
        super().__init__()
        self.features = result.features
        self.width = result.width
        self.rest = rest
        self._network = network
        self.equations = nn.ModuleDict({str(c): e.torch(trainable=trainable)
                                        for c, e in equations.items()})
        self.formulas = nn.ModuleDict({k: e.torch() for k, e in
                                       result.features.formulas.items()})
        self.register_buffer("means", torch.tensor(result.means, dtype=torch.float64))

    def forward(self, **args: Any) -> torch.Tensor:
        ref = next((v for v in args.values() if isinstance(v, torch.Tensor) and v.dim() >= 1),
                   None)
        if ref is None:
            raise PhysDistillError("message() got no tensor arguments")
        if self.means.device != ref.device:
            self.to(ref.device)
        E = ref.shape[0]
        dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
        env = self.features.compute(args, E, self.formulas)
        neural = self._network(**args) if self.rest == "network" else None
        if neural is not None and tuple(neural.shape) != (E, self.width):
            raise PhysDistillError(f"the layer's message has shape {tuple(neural.shape)}; the "
                                   f"distillation recorded ({E}, {self.width})")
        cols = []
        for c in range(self.width):
            if str(c) in self.equations:
                cols.append(self.equations[str(c)](env).to(dtype))
            elif neural is not None:
                cols.append(neural[:, c])
            else:
                cols.append(self.means[c].to(dtype).expand(E))
        return torch.stack(cols, dim=1)


def use_equations(layer: nn.Module, result: MessageDistillation, *,
                  complexity: int | Mapping[int, Any] | None = None, rule: str | None = None,
                  trainable: bool = False, rest: str = "mean") -> SymbolicMessage:
    """Make ``layer.message`` evaluate ``result``'s equations (module docstring).

    Args:
        layer: the ``MessagePassing`` layer that was distilled (or a copy of it).
        result: the distillation.
        complexity: ``None`` (each front's chosen equation, or ``rule``), one complexity for
            every channel, or channel -> complexity or rule name.
        rule: a selection rule for the channels not given in ``complexity``.
        trainable: make the equations' constants trainable parameters.
        rest: what the channels that were not kept send, ``"mean"`` or ``"network"``.

    Returns:
        The installed :class:`SymbolicMessage`.
    """
    if not isinstance(result, MessageDistillation):
        raise PhysDistillError(f"result must be what distill_messages returned, got "
                               f"{type(result).__name__}")
    if not hasattr(layer, "register_message_forward_hook"):
        raise PhysDistillError(f"{type(layer).__name__} is not a torch_geometric "
                               "MessagePassing layer")
    if type(layer).__name__ != result.layer_type:
        raise PhysDistillError(f"the equations were distilled from a {result.layer_type}; "
                               f"this layer is a {type(layer).__name__}")
    if rest not in RESTS:
        raise PhysDistillError(f"rest must be one of {RESTS}, got {rest!r}")
    if "message" in vars(layer):
        use_network(layer)
    equations = {}
    for c, front in result.fronts.items():
        want = complexity.get(c) if isinstance(complexity, Mapping) else complexity
        try:
            if isinstance(want, str):
                cand = front.candidates[front.index(want)]
            elif want is not None:
                cand = front.at_complexity(want)
            elif rule is not None:
                cand = front.candidates[front.index(rule)]
            else:
                cand = front.chosen
        except PhysDistillError as exc:
            raise PhysDistillError(f"channel {c}: {exc}") from None
        equations[c] = cand.expression
    module = SymbolicMessage(result, equations, trainable, rest, layer.message)
    device = next((t.device for t in [*layer.parameters(), *layer.buffers()]), None)
    if device is not None:
        module.to(device)
    layer.add_module(ATTR, module)
    object.__setattr__(layer, "message", module)  # instance attribute: the class is untouched
    return module


def use_network(layer: nn.Module) -> nn.Module:
    """Undo :func:`use_equations`: the layer's own ``message()`` runs again."""
    if "message" not in vars(layer):
        raise PhysDistillError(f"this {type(layer).__name__} is not using equations; call "
                               "use_equations(layer, result) first")
    del layer.__dict__["message"]
    if ATTR in layer._modules:
        del layer._modules[ATTR]
    return layer
