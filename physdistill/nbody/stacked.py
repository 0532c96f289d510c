r"""The stacked layout of ``M`` OGNs: :class:`StackedOGN` and the stacked Adam state.

:class:`StackedOGN` holds the weights of layer :math:`l` of the ``M`` models as one tensor
``[M, out, in]`` and runs every layer as one batched matrix product over the models; the
regularisers' buffers are stacked the same way, each model's buffer a view of its row. Adam's
state of a stack is the lone trainer's state of each model stacked along a first axis, and
:func:`_member_optimizer` / :func:`_stack_optimizer` convert between the two, so a model's
checkpoint reads like one trained alone. The training loop that uses them is
:mod:`~physdistill.nbody.stack`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from physdistill.errors import PhysDistillError
from physdistill.nbody.dataset import fully_connected
from physdistill.nbody.model import OGN


class StackedOGN(nn.Module):
    """``M`` :class:`~physdistill.nbody.model.OGN` s of one config with stacked weights.

    Built from the models (their weights are copied; their regularisers, with their buffers
    such as the pruning mask, are shared). :meth:`sync_to_models` writes the stacked weights back
    into the models.

    Shapes:
        x ``[M, B, n, F]`` (complete directed graphs of ``n`` nodes) -> accelerations
        ``[M, B, n, dim]`` and per-model penalties ``[M]`` (zeros without a penalty).
    """

    def __init__(self, models: Sequence[OGN]) -> None:
        super().__init__()
        if not models:
            raise PhysDistillError("a stack needs at least one model")
        cfg = models[0].config
        for m in models:
            if not isinstance(m, OGN) or m.config != cfg:
                raise PhysDistillError(f"all models of a stack must be OGNs of one config; got "
                                       f"{getattr(m, 'config', type(m).__name__)} beside {cfg}")
        self.config = cfg
        self.models = list(models)  # not submodules: the stack owns the trained weights
        self.regs = nn.ModuleList([m.regularizer for m in models])
        self.names = [name for name, _ in models[0].named_parameters()]
        self.weights = nn.ParameterList([
            nn.Parameter(torch.stack([dict(m.named_parameters())[name].detach()
                                      for m in models]).clone()) for name in self.names])
        self._edges: dict[tuple[int, torch.device], Tensor] = {}
        self._stack_buffers()

    def _stack_buffers(self) -> None:
        """One ``[M, ...]`` tensor per regulariser buffer; each model's buffer becomes a view of
        its row (so the batched regulariser and the models see the same values)."""
        self.reg_buffers: dict[str, Tensor] = {}
        for name, _ in self.regs[0].named_buffers(recurse=False):
            stacked = torch.stack([getattr(r, name).detach() for r in self.regs]).clone()
            self.register_buffer(f"reg_{name}", stacked)
            self.reg_buffers[name] = stacked
            for k, r in enumerate(self.regs):
                r._buffers[name] = stacked[k]

    def _apply(self, fn, recurse=True):  # .to(device) must keep the models' views
        super()._apply(fn, recurse)
        self.reg_buffers = {name[4:]: b for name, b in self._buffers.items()
                            if name.startswith("reg_")}
        for name, stacked in self.reg_buffers.items():
            for k, r in enumerate(self.regs):
                r._buffers[name] = stacked[k]
        return self

    @property
    def size(self) -> int:
        return len(self.models)

    def _mlp(self, h: Tensor, prefix: str) -> Tensor:
        layers = [(w, self.weights[i + 1]) for i, (name, w) in enumerate(zip(self.names,
                                                                              self.weights))
                  if name.startswith(prefix) and name.endswith(".weight")]
        for j, (w, b) in enumerate(layers):
            h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
            if j < len(layers) - 1:
                h = torch.relu(h)
        return h

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        M, B, n, F = x.shape
        one = self._edges.get((n, x.device))
        if one is None:  # made before any CUDA-graph capture (boolean indexing syncs)
            one = self._edges[(n, x.device)] = fully_connected(n, x.device)  # by receiver
        xi, xj = x[:, :, one[1]], x[:, :, one[0]]
        raw = self._mlp(torch.cat([xi, xj], -1).reshape(M, B * n * (n - 1), 2 * F), "edge_mlp.")
        penalty = raw.new_zeros(M)
        batched = type(self.regs[0]).stacked(list(self.regs), self.reg_buffers, raw, B * n)
        if batched is not None:
            msg = batched[0]
            if batched[1] is not None:
                penalty = batched[1]
        else:
            msgs, pens = [], []
            for k, reg in enumerate(self.regs):
                msgs.append(reg(raw[k]))
                p = reg.penalty(raw[k], B * n)
                pens.append(p if p is not None else raw.new_zeros(()))
            msg, penalty = torch.stack(msgs), torch.stack(pens)
        aggr = msg.reshape(M, B, n, n - 1, -1).sum(3)
        h = torch.cat([x, aggr], -1).reshape(M, B * n, -1)
        return self._mlp(h, "node_mlp.").reshape(M, B, n, -1), penalty

    def train_progress(self, progress: float) -> None:
        for reg in self.regs:
            reg.train_progress(progress)

    @torch.no_grad()
    def sync_to_models(self) -> None:
        """Copy each model's slice of the stacked weights into the model."""
        for k, m in enumerate(self.models):
            params = dict(m.named_parameters())
            for name, w in zip(self.names, self.weights):
                params[name].copy_(w[k])


def _member_optimizer(stacked: dict[str, Any], j: int) -> dict[str, Any]:
    """Member ``j``'s Adam state in the lone trainer's layout (its slice of every moment)."""
    state = {i: {key: (v if key == "step" else v[j]).detach().clone()
                 for key, v in s.items()} for i, s in stacked["state"].items()}
    return {"state": state, "param_groups": stacked["param_groups"]}


def _stack_optimizer(members: list[dict[str, Any]]) -> dict[str, Any]:
    """The stacked Adam state of members' lone-trainer states (inverse of
    :func:`_member_optimizer`); the members must be at the same step."""
    first = members[0]
    state = {}
    for i, s in first["state"].items():
        state[i] = {key: (v if key == "step" else torch.stack([m["state"][i][key]
                                                                for m in members]))
                    for key, v in s.items()}
    return {"state": state, "param_groups": first["param_groups"]}
