"""One JSON convention for the frozen settings dataclasses: the :class:`JSONConfig` mixin.

Run folders and checkpoints store settings (``TrainConfig``, ``OGNConfig``, ``NBodyConfig``)
as the plain dict of the dataclass's fields and read them back on resume and report. Reading
checks every key, so a misspelt or stale key in an old or hand-edited file fails with a message
that names it rather than with the constructor's bare ``TypeError``. Both directions live here
so that every settings class writes and reads the same format.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Self

from physdistill.errors import PhysDistillError


class JSONConfig:
    """Mixin of a frozen dataclass: :meth:`to_dict` and a key-checked :meth:`from_dict`.

    A subclass sets :attr:`config_name`, how error messages name its settings (e.g.
    ``"training config"``). Keys missing from the dict take the field defaults, as in the
    constructor; a subclass that validates its fields extends :meth:`from_dict` to do so.
    """

    config_name: ClassVar[str] = "config"

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (:func:`dataclasses.asdict`; nested dataclasses become dicts)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """The settings that :meth:`to_dict` stored.

        Raises:
            PhysDistillError: ``data`` is not a dict, or holds keys that are not fields (the
                message names all of them, and the known ones).
        """
        if not isinstance(data, dict):
            raise PhysDistillError(f"{cls.config_name} must be a JSON object, got "
                                   f"{type(data).__name__}")
        known = sorted(f.name for f in dataclasses.fields(cls))
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise PhysDistillError(f"unknown {cls.config_name} keys {unknown}; known: {known}")
        return cls(**data)
