"""Graph index helpers shared by every domain (no domain imports)."""

from __future__ import annotations

import torch

from physdistill.errors import PhysDistillError


def repeat_edges(edge_index: torch.Tensor, copies: int, n_nodes: int) -> torch.Tensor:
    """``edge_index`` of ``copies`` disjoint copies of one graph of ``n_nodes`` nodes, as PyG
    batches them: copy ``b``'s node ids are offset by ``b * n_nodes``.

    Shapes:
        ``edge_index [2, e]`` -> ``[2, copies * e]`` (contiguous, on ``edge_index``'s device).
    """
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise PhysDistillError(f"expected 'edge_index' of shape [2, E], got "
                               f"{tuple(edge_index.shape)}")
    if copies < 1 or n_nodes < 1:
        raise PhysDistillError(f"need copies >= 1 and n_nodes >= 1, got {copies}, {n_nodes}")
    offsets = (torch.arange(copies, device=edge_index.device) * n_nodes).repeat_interleave(
        edge_index.shape[1])
    return (edge_index.repeat(1, copies) + offsets).contiguous()
