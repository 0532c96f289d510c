"""The less common settings of :func:`~physdistill.gnn.distill.distill_messages`:
:class:`DistillOptions`.

A module of its own because both the entry point (:mod:`~physdistill.gnn.distill`) and the
searches it runs (:mod:`~physdistill.gnn.search`) read them; the searches import them from
here, and the entry point imports the searches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from physdistill.errors import PhysDistillError
from physdistill.symbolic.central import CentralConfig
from physdistill.symbolic.config import SRConfig
from physdistill.symbolic.selection import DEFAULT_FACTOR, DEFAULT_FLOOR, check_rule


@dataclass(frozen=True)
class DistillOptions:
    """The less common settings of :func:`~physdistill.gnn.distill.distill_messages`.

    Args:
        rule, factor: selection rule and loss window on each front
            (:mod:`~physdistill.symbolic.selection`).
        backend: symbolic-regression engine name.
        max_edges: edges kept by the recording (uniform sample).
        batch_size: graphs per batch when ``data`` is a list of ``Data``.
        seed: seed of the recording's sample (the searches use ``config.seed``).
        central: settings of the central-force step.
        scalar_config: the central step's scalar search (default: ``config``).
        n_jobs: channels searched at once (threads; default ``min(channels, cores)``).
    """

    rule: str = "best"
    factor: float = DEFAULT_FACTOR
    backend: str = "operon"
    max_edges: int = 50_000
    batch_size: int = 64
    seed: int = 0
    central: CentralConfig = field(default_factory=CentralConfig)
    scalar_config: SRConfig | None = None
    n_jobs: int | None = None

    def __post_init__(self) -> None:
        check_rule(self.rule, self.factor, DEFAULT_FLOOR)
        for name in ("max_edges", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise PhysDistillError(f"DistillOptions.{name} must be a positive integer, got "
                                       f"{v!r}")
        if not isinstance(self.central, CentralConfig):
            raise PhysDistillError(f"DistillOptions.central must be a CentralConfig, got "
                                   f"{type(self.central).__name__}")
        if self.scalar_config is not None and not isinstance(self.scalar_config, SRConfig):
            raise PhysDistillError(f"DistillOptions.scalar_config must be an SRConfig, got "
                                   f"{type(self.scalar_config).__name__}")
