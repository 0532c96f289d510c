"""``physdistill nbody-table``: the law x regulariser grid, beside the published numbers.

Each cell is one :func:`~physdistill.nbody.pipeline.run_nbody` run in ``OUT/LAW-REG`` (one
dataset per law, shared by its regularisers, in ``OUT/data-LAW``). Finished runs are reused
(``resume``), so an interrupted table continues where it stopped. The reference numbers are read
from ``experiments/reference_numbers.json`` (SymTorch's reproduction; source in the file).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from physdistill._io import atomic_write_text
from physdistill.errors import PhysDistillError
from physdistill.nbody.pipeline import NBodyConfig, run_nbody, simulation_device

REFERENCE_FILE = Path(__file__).resolve().parents[2] / "experiments" / "reference_numbers.json"


def reference_numbers(path: Path = REFERENCE_FILE) -> dict[str, Any]:
    """The published robust R^2 table (``{}`` when the file is not there, e.g. a wheel)."""
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def _pair(v: list[float] | None) -> str:
    return "-" if not v else " / ".join(f"{x:.3f}" for x in v)


def run_table(laws: list[str], regs: list[str], out: str | Path, base: NBodyConfig, *,
              progress: bool = True) -> str:
    """Run the grid and write ``OUT/table.md`` and ``OUT/table.json``; return the Markdown."""
    from physdistill.nbody.dataset import make_dataset
    from physdistill.nbody.laws import get_law
    from physdistill.nbody.simulate import SimConfig

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ref = reference_numbers().get("table", {})
    rows = []
    for law_name in laws:
        law = get_law(law_name)
        cfg0 = replace(base, law=law_name, potential=None).resolved()
        data = out / f"data-{law_name}"
        if not (data / "meta.json").is_file():
            make_dataset(law, SimConfig(n=cfg0.n, dim=cfg0.dim, sims=cfg0.sims,
                                        steps=cfg0.steps, seed=cfg0.seed,
                                        device=simulation_device(cfg0.device)),
                         data, force=True, progress=progress)
        for reg in regs:
            cfg = replace(cfg0, reg=reg, data=str(data))
            run_dir = out / f"{law_name}-{reg}"
            resume = (run_dir / "run.json").is_file()
            try:
                m = run_nbody(cfg, run_dir, resume=resume, force=not resume, progress=progress)
            except PhysDistillError as exc:
                m = {"error": str(exc)}
            rows.append({"law": law_name, "reg": reg, "metrics": m,
                         "reference": ref.get(law_name, {}).get(reg)})
    md = ["| law | regulariser | R² all (ours) | R² robust (ours) | R² robust (SymTorch) | "
          "channels recovered | seconds |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r["metrics"]
        if "error" in m:
            md.append(f"| {r['law']} | {r['reg']} | error: {m['error'][:80]} | | "
                      f"{_pair(r['reference'])} | | |")
            continue
        rec = sum(c["recovered"] for c in m["channels"])
        md.append(f"| {r['law']} | {r['reg']} | {_pair(m['message_r2_all'])} | "
                  f"{_pair(m['message_r2_robust'])} | {_pair(r['reference'])} | "
                  f"{rec}/{len(m['channels'])} | {sum(m['timings'].values()):.0f} |")
    text = "\n".join(md) + "\n"
    atomic_write_text(out / "table.md", text)
    atomic_write_text(out / "table.json", json.dumps(rows, indent=1, default=str))
    return text
