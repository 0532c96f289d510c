"""What an n-body result was made from, and the checks that refuse a stale or foreign one.

Every stage of an n-body run records the hash of the run's settings, the law
(:func:`law_record`) and the dataset's fingerprint
(:func:`~physdistill.runs.fingerprint`) in ``run.json``. ``physdistill train`` records the law
and dataset of its model the same way. These checks compare the records with what a command is
about to combine them with:

- ``--resume``: every finished stage against the run's law and (current) dataset
  (:meth:`~physdistill.runs.RunFolder.check_stages`, called by the pipeline);
- ``report``: the stages a report reads have finished, and were made from the law of the run's
  own settings and from one dataset (:func:`check_report_inputs`);
- ``--model M``: the law M was trained on is the run's law (:func:`check_model_law`).

Records written before provenance existed are absent; they are not checked.
"""

from __future__ import annotations

import sys
from pathlib import Path

from physdistill._io import read_json
from physdistill.errors import PhysDistillError
from physdistill.nbody.config import NBodyConfig, _law
from physdistill.runs import RunFolder


def law_record(law) -> str:
    """How provenance records name a law (a :class:`ForceLaw` or its ``to_dict()``)."""
    d = law if isinstance(law, dict) else law.to_dict()
    return f"{d.get('name')}: U = {d.get('potential')} (eps {d.get('eps')})"


def _law_of_dataset(folder: str | Path) -> str | None:
    meta_path = Path(folder) / "meta.json"
    if not meta_path.is_file():
        return None
    meta = read_json(meta_path, "dataset metadata")
    law = meta.get("law") if isinstance(meta, dict) else None
    return law_record(law) if isinstance(law, dict) else None


def model_law(path: str | Path) -> tuple[str | None, str]:
    """The law a trained model folder was trained on, and where that is recorded.

    Looks at a ``physdistill train`` folder's ``run.json`` (its ``train`` record, else its
    dataset's ``meta.json``), or, for the ``model/`` folder of an n-body run, that run's
    ``run.json``. Returns ``(None, reason)`` when nothing records it.
    """
    path = Path(path)
    if (path / "run.json").is_file():
        run = RunFolder.open(path)
        rec = run.made_from("train") or {}
        if "law" in rec:
            return rec["law"], f"{path / 'run.json'}"
        dataset = run.meta.get("config", {}).get("dataset")
        found = _law_of_dataset(dataset) if isinstance(dataset, str) else None
        if found is not None:
            return found, f"its dataset {dataset}"
        return None, f"{path / 'run.json'} names no law and its dataset is gone"
    if path.name == "model" and (path.parent / "run.json").is_file():
        run = RunFolder.open(path.parent)
        rec = run.made_from("train") or {}
        if "law" in rec:
            return rec["law"], f"{path.parent / 'run.json'}"
        if run.kind == "nbody":
            return (law_record(_law(NBodyConfig.from_dict(run.meta["config"]).resolved())),
                    f"the settings in {path.parent / 'run.json'}")
    return None, f"{path} has no run.json"


def check_model_law(path: str | Path, want: str) -> None:
    """Refuse a ``--model`` trained on another law than ``want`` (a law record)."""
    found, where = model_law(path)
    if found is None:
        print(f"note: cannot check which law model {path} was trained on ({where})",
              file=sys.stderr)
        return
    if found != want:
        raise PhysDistillError(
            f"model {path} was trained on {found} (recorded in {where}); this run analyses "
            f"{want}: pass a model trained on that law, or leave out --model")


def check_report_inputs(run: RunFolder, want_law: str) -> None:
    """Refuse to report a run whose stages have not finished or were made from other inputs
    than the run's own settings (``want_law``: the law those settings name)."""
    run.require("train", "distill",
                fix=f"finish it with 'physdistill nbody ... --resume --out {run.path}'")
    data = run.made_from("data") or {}
    run.inputs = {"law": want_law, **({"dataset": data["dataset"]} if "dataset" in data
                                      else {})}
    run.check_stages()
