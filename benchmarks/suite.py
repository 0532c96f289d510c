"""Every benchmark in one command, ours against the reference side by side, in one table.

    python benchmarks/suite.py                                # every section, real sizes
    python benchmarks/suite.py --quick                        # tiny sizes: a smoke test (minutes)
    python benchmarks/suite.py --sections sr gnn --device cuda --json suite.json

Sections (each reuses the single benchmark script named; figures in ``docs/performance.md``,
runs in ``benchmarks/RESULTS.md``):

* ``simulator`` (``simulator.py``, ``numpy_nbody.py``): systems x steps per second of our
  batched :func:`~physdistill.nbody.simulate.simulate` (10,000 r2 systems x 500 steps, with its
  accuracy check and refinement) against scipy ``solve_ivp`` and a plain numpy RK4 loop, each
  timed on a few systems and scaled; on the CPU, and on the GPU too when one is used.
* ``gnn`` (``gnn_speed.py``): training graphs/s of our ``Trainer`` against the plain PyG
  reference recipe, and the achieved FLOP rate as a fraction of an fp32 matrix product's
  (and, on a GPU, of the card's datasheet fp32 peak).
* ``sr`` (``sr_recovery.py``): recovery of spring, r1, r2 and charge from ideal messages
  (exact pair force, or F / m1) with noise 0, 1 % and 10 % of std, 5 seeds, by the n-body
  pipeline's own distillation and comparison: recovered k / 5 and the median time.
* ``e2e``: ``physdistill nbody LAW`` (quick preset) for spring, r1, r2, charge and
  ``physdistill heat`` with defaults, in a temporary folder; wall time of every stage.
* ``pinn`` (``pinn_vs_deepxde.py``): the heat PINN against DeepXDE: time to rel. L2 1e-3 and
  the final rel. L2. Runs last, because importing DeepXDE changes torch's global defaults
  (on a CUDA machine, the default device).

Within a section ours and the reference take turns in every repeat (a busy machine slows both
alike) and the table shows medians. ``ratio`` is how many times better ours is (reference /
ours for times and errors, ours / reference for rates). A section that needs what is not here
(DeepXDE, CUDA) gives a ``skipped`` row; one that fails gives an ``error`` row, its traceback
is printed, and the command exits with status 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: run order; pinn is last (see the module docstring)
SECTIONS = ("simulator", "gnn", "sr", "e2e", "pinn")
#: the issue's target for the simulator: the default dataset (10,000 x 500) in <= 60 s
SIM_TARGET_RATE = 10_000 * 500 / 60
#: NVIDIA datasheet fp32 (non-tensor) peaks in TFLOP/s, by a substring of the device name; the
#: GNN section runs with TF32 off, so this is the peak its matrix products can reach
CARD_PEAK_FP32_TFLOPS = {"H100 PCIe": 51.0, "H100 NVL": 60.0, "H100": 67.0, "H200 NVL": 60.0,
                         "H200": 67.0, "A100": 19.5}  # first match wins

#: sizes of every section: the real ones and ``--quick``'s (a smoke test, not a measurement)
SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "simulator": {
        "full": {"law": "r2", "sims": 10_000, "steps": 500, "ref_systems": 3, "repeats": 3},
        "quick": {"law": "r2", "sims": 64, "steps": 100, "ref_systems": 1, "repeats": 2},
    },
    "gnn": {  # plan None: gnn_speed's default batches and steps for the device
        "full": {"plan": None, "repeats": 5, "mm_size": 2048},
        "quick": {"plan": {"cpu": [(64, 4)], "cuda": [(64, 20), (4096, 4)]}, "repeats": 2,
                  "mm_size": 1024},
    },
    "sr": {  # sr_seconds None: the pipeline's quick preset
        "full": {"laws": ["spring", "r1", "r2", "charge"], "targets": ["force", "acceleration"],
                 "noise": [0.0, 0.01, 0.1], "seeds": 5, "sr_seconds": None, "systems": 1000},
        "quick": {"laws": ["spring", "r2"], "targets": ["force"], "noise": [0.0, 0.1],
                  "seeds": 1, "sr_seconds": 2.0, "systems": 200},
    },
    "e2e": {  # overrides of the n-body preset and of the heat command's defaults
        "full": {"laws": ["spring", "r1", "r2", "charge"], "nbody": {}, "heat": []},
        "quick": {"laws": ["spring", "r1", "r2", "charge"],
                  "nbody": {"sims": 40, "steps": 50, "epochs": 1, "hidden": 16, "batch": 32,
                            "steps_per_epoch": 4, "sr_seconds": 1.0, "sr_samples": 200,
                            "rollout_systems": 2},
                  "heat": ["--adam-steps", "20", "--lbfgs-steps", "5", "--points", "200",
                           "--sr-time", "1"]},
    },
    "pinn": {  # arguments of pinn_vs_deepxde.py ([]: its defaults, the documented comparison)
        "full": {"args": [], "repeats": 1},
        "quick": {"args": ["--adam", "200", "--lbfgs", "100", "--dde-adam", "300",
                           "--dde-lbfgs", "0"], "repeats": 1},
    },
}


class Skip(Exception):
    """What a section needs is not here (an optional package, CUDA): a ``skipped`` row."""


@dataclass
class Row:
    """One line of the final table.

    ``higher_is_better`` orients ``ratio``; ``met`` is ``None`` where no target applies;
    ``status`` is ``ok``, ``skipped: <reason>`` or ``error: <reason>``; ``details`` go to the
    JSON output only.
    """

    section: str
    what: str
    ours: float | None = None
    reference: float | None = None
    unit: str = ""
    higher_is_better: bool = True
    target: str = ""
    met: bool | None = None
    note: str = ""
    status: str = "ok"
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """How many times better ours is than the reference (``None`` if either is missing)."""
        o, r = self.ours, self.reference
        if o is None or r is None or not (o > 0 and r > 0) or math.isinf(o) or math.isinf(r):
            return None
        return o / r if self.higher_is_better else r / o

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "ratio": self.ratio}


@dataclass(frozen=True)
class Settings:
    """Command-line settings shared by the sections.

    Args:
        quick: tiny sizes (:data:`SIZES` ``"quick"``).
        device: ``cpu`` (no GPU rows), ``cuda`` or ``auto`` (GPU rows where CUDA is available;
            skipped rows otherwise).
        repeats: repeats of every timed section (``None``: each section's own).
    """

    quick: bool = False
    device: str = "auto"
    repeats: int | None = None

    def size(self, section: str) -> dict[str, Any]:
        return SIZES[section]["quick" if self.quick else "full"]

    def repeats_for(self, size: dict[str, Any]) -> int:
        return self.repeats or size["repeats"]


def medians(timed: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Call every function in turn, ``repeats`` rounds; the median of each one's results."""
    out: dict[str, list[float]] = {k: [] for k in timed}
    for _ in range(repeats):
        for k, fn in timed.items():
            out[k].append(fn())
    return {k: statistics.median(v) for k, v in out.items()}


def find_gpu(device: str) -> tuple[torch.device | None, str]:
    """The CUDA device to measure on, or ``None`` and why not: ``""`` for ``--device cpu``
    (no GPU rows), a reason when CUDA is asked for (``cuda``) or hoped for (``auto``) and is
    not available here (a skipped row)."""
    if device == "cpu":
        return None, ""
    if not torch.cuda.is_available():
        return None, f"CUDA not available (--device {device})"
    return torch.device("cuda"), ""


# ---------------------------------------------------------------------------------------------
# sections


def section_simulator(settings: Settings, size: dict[str, Any]) -> list[Row]:
    """Our simulator vs scipy ``solve_ivp`` and a numpy RK4 loop, in systems x steps / s."""
    import numpy_nbody
    import simulator

    from physdistill.nbody.laws import get_law
    from physdistill.nbody.simulate import SimConfig, simulate

    law = get_law(size["law"])
    cfg = SimConfig(sims=size["sims"], steps=size["steps"])
    k = size["ref_systems"]
    gpu, gpu_skip = find_gpu(settings.device)
    devices = ["cpu"] + ([str(gpu)] if gpu is not None else [])
    stats: dict[str, dict[str, Any]] = {}

    def ours(device: str) -> Callable[[], float]:
        def run() -> float:
            c = dataclasses.replace(cfg, device=device)
            start = time.perf_counter()
            res = simulate(law, c, progress=False)
            if device != "cpu":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            stats[device] = {"seconds": seconds, **{key: res.stats[key] for key in
                                                     ("refined", "dropped", "kept")}}
            return c.sims * c.steps / seconds
        return run

    for device in devices:  # warm-up (kernels, CUDA context), untimed
        simulate(law, dataclasses.replace(cfg, sims=8, steps=10, keep_every=5, device=device),
                 progress=False)
    timed = {f"ours {d}": ours(d) for d in devices}
    timed["scipy"] = lambda: cfg.steps / simulator.scipy_seconds_per_system(law, cfg, k)
    timed["numpy"] = lambda: cfg.steps / numpy_nbody.seconds_per_system(law, cfg, k)
    med = medians(timed, settings.repeats_for(size))
    refs = {"scipy": f"scipy solve_ivp (DOP853, tol 1e-10; {k} sys., scaled)",
            "numpy": f"numpy RK4, Python pair loop ({k} sys., scaled)"}
    rows = []
    for d in devices:
        rate = med[f"ours {d}"]
        st = stats[d]
        for ref, text in refs.items():
            rows.append(Row(
                "simulator", f"{law.name} {cfg.sims:,} x {cfg.steps} steps, ours ({d}) vs {text}",
                rate, med[ref], "sys-steps/s",
                target=f">= {SIM_TARGET_RATE:,.0f} (10,000 x 500 in 60 s)",
                met=rate >= SIM_TARGET_RATE,
                note=f"ours {cfg.sims * cfg.steps / rate:.1f} s (median); refined "
                     f"{st['refined']}, dropped {st['dropped']} (last repeat)",
                details={"stats_last_repeat": st, "medians": med}))
    if gpu_skip:
        rows.append(Row("simulator", f"{law.name}, ours on the GPU",
                        status=f"skipped: {gpu_skip}"))
    return rows


def section_gnn(settings: Settings, size: dict[str, Any]) -> list[Row]:
    """Our trainer vs the PyG reference recipe: graphs/s and fractions of peak rates."""
    import gnn_speed

    from physdistill.nbody.model import OGNConfig, flops_per_graph

    flops = flops_per_graph(OGNConfig(dim=gnn_speed.DIM), gnn_speed.N)

    def measure(device: torch.device) -> list[Row]:
        kind = device.type
        plan = (size["plan"] or {}).get(kind) or [
            (b, gnn_speed.default_steps(b, device)) for b in gnn_speed.default_batches(device)]
        peak = None
        name = torch.cuda.get_device_name(device) if kind == "cuda" else platform.processor()
        if kind == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = False
            peak = next((v * 1e3 for k, v in CARD_PEAK_FP32_TFLOPS.items() if k in name), None)
        rows = []
        for batch, steps in plan:
            med = gnn_speed.measure(batch, steps, settings.repeats_for(size), device,
                                    mm_size=size["mm_size"])
            o, b = med["ours"] * flops / 1e9, med["base"] * flops / 1e9
            details = {"medians": med, "steps": steps, "gflop_per_s": {"ours": o, "base": b},
                       "device_name": name}
            on = f"batch {batch}, {kind}"
            speed_target = kind == "cuda" and batch == 64
            rows.append(Row("gnn", f"graphs/s, {on}: ours vs PyG reference recipe",
                            med["ours"], med["base"], "graphs/s",
                            target=">= 10x the reference" if speed_target else "",
                            met=med["ours"] >= 10 * med["base"] if speed_target else None,
                            note=f"steps {steps}/{med['base_steps']} (ours/reference)",
                            details=details))
            mm = med["mm"]
            rows.append(Row("gnn", f"fraction of a {size['mm_size']}^2 fp32 matmul rate, {on}: "
                                   "ours vs reference", o / mm, b / mm, "fraction",
                            target=">= 0.80" if kind == "cpu" else "",
                            met=o / mm >= 0.8 if kind == "cpu" else None,
                            note=f"matmul {mm:,.0f} GFLOP/s; ours {o:,.1f} GFLOP/s",
                            details=details))
            if kind == "cuda":
                rows.append(Row("gnn", f"fraction of the card's fp32 peak, {on}: ours vs "
                                       "reference", None if peak is None else o / peak,
                                None if peak is None else b / peak, "fraction",
                                note=f"{name}: " + (f"datasheet {peak:,.0f} GFLOP/s" if peak
                                                    else "peak unknown to this suite"),
                                details=details))
        return rows

    rows = measure(torch.device("cpu"))
    gpu, gpu_skip = find_gpu(settings.device)
    if gpu is not None:
        rows += measure(gpu)
    if gpu_skip:
        rows.append(Row("gnn", "GNN training on the GPU", status=f"skipped: {gpu_skip}"))
    return rows


def section_sr(settings: Settings, size: dict[str, Any]) -> list[Row]:
    """Recovery of the force laws from ideal (noisy) messages by the pipeline's distillation."""
    import sr_recovery

    results = sr_recovery.sweep(size["laws"], size["targets"], size["noise"], size["seeds"],
                                sr_seconds=size["sr_seconds"], systems=size["systems"])
    rows = []
    for s in results:
        rec = s["median_s_recovered"]
        rows.append(Row(
            "sr", f"{s['law']}, {s['target']}, noise {s['noise']:g} x std: time to a verdict",
            s["median_s"], None, "s", higher_is_better=False,
            note=f"recovered {s['recovered']}/{s['n_runs']}"
                 + ("" if rec is None else f"; median {rec:.1f} s when recovered")
                 + f"; SR {s['runs'][0]['sr_seconds']:g} s per component",
            details={"recovered": s["recovered"], "n_runs": s["n_runs"],
                     "median_s_recovered": rec, "runs": s["runs"]}))
    return rows


def section_e2e(settings: Settings, size: dict[str, Any]) -> list[Row]:
    """``physdistill nbody LAW`` and ``physdistill heat``: wall time of every stage."""
    from physdistill._io import read_json
    from physdistill.cli import build_parser
    from physdistill.heat.cli import build_config
    from physdistill.heat.pipeline import run_heat
    from physdistill.nbody.pipeline import NBodyConfig, run_nbody

    gpu, gpu_skip = find_gpu(settings.device)
    device = "cpu" if gpu is None else str(gpu)
    rows = []

    def stage_text(timings: dict[str, float]) -> str:
        return ", ".join(f"{k} {v:.1f} s" for k, v in timings.items() if k != "total")

    with tempfile.TemporaryDirectory() as tmp:
        for law in size["laws"]:
            out = Path(tmp) / f"nbody-{law}"
            start = time.perf_counter()
            metrics = run_nbody(NBodyConfig(law=law, device=device, **size["nbody"]), out,
                                force=True, progress=False)
            wall = time.perf_counter() - start
            # run.json has every stage's time; metrics.json is written inside the report stage
            timings = {k: v["seconds"] for k, v in read_json(out / "run.json")["stages"].items()}
            quick_preset = not size["nbody"]
            rows.append(Row(
                "e2e", f"physdistill nbody {law} (quick preset"
                f"{'' if quick_preset else ' with tiny overrides'}, {device}): wall time",
                wall, None, "s", higher_is_better=False,
                target="<= 600 s (2-core CPU)" if quick_preset and device == "cpu" else "",
                met=wall <= 600 if quick_preset and device == "cpu" else None,
                note=f"{stage_text(timings)}; recovered {metrics['recovered']}",
                details={"timings": timings, "recovered": metrics["recovered"],
                         "config": metrics["config"]}))
        args = build_parser().parse_args(["heat", "--out", str(Path(tmp) / "heat"), "--quiet",
                                          "--device", device, *size["heat"]])
        metrics = run_heat(build_config(args), args.out)
        rows.append(Row(
            "e2e", f"physdistill heat (defaults{' with tiny overrides' if size['heat'] else ''},"
            f" {device}): wall time", metrics["timings"]["total"], None, "s",
            higher_is_better=False,
            note=f"{stage_text(metrics['timings'])}; rel. L2 of the network "
                 f"{metrics['rel_l2_network']:.2e}",
            details={"timings": metrics["timings"], "rel_l2_network": metrics["rel_l2_network"]}))
    if gpu_skip:
        rows.append(Row("e2e", "the runs on the GPU (they ran on the CPU)",
                        status=f"skipped: {gpu_skip}"))
    return rows


def section_pinn(settings: Settings, size: dict[str, Any]) -> list[Row]:
    """The heat PINN vs DeepXDE: time to rel. L2 1e-3 and the final rel. L2."""
    import numpy as np
    import pinn_vs_deepxde as pinn  # sets DDE_BACKEND=pytorch unless it is set

    from physdistill.heat.problem import HeatProblem

    try:
        dde = importlib.import_module("deepxde")
    except ImportError as exc:
        raise Skip(f"deepxde not installed (pip install -e '.[bench]'): {exc}") from None
    if dde.backend.backend_name != "pytorch":
        raise Skip(f"DeepXDE uses the {dde.backend.backend_name} backend; set "
                   "DDE_BACKEND=pytorch")
    args = pinn.build_parser().parse_args(size["args"])
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    lines: dict[str, list[Any]] = {"ours": [], "deepxde": []}
    try:
        for _ in range(settings.repeats_for(size)):
            torch.manual_seed(args.seed)
            np.random.seed(args.seed)
            lines["ours"].append(pinn.run_ours(HeatProblem(), args))
            lines["deepxde"].append(pinn.run_deepxde(HeatProblem(), args))
    finally:
        torch.set_num_threads(threads)

    def to_1e3(t: Any) -> float:
        return t.hits[1e-3][0] if 1e-3 in t.hits else math.inf

    def med(key: str, fn: Callable[[Any], float]) -> float | None:
        m = statistics.median(fn(t) for t in lines[key])
        return None if math.isinf(m) else m

    setup = (f"ours Adam {args.adam} + L-BFGS {args.lbfgs} ({args.dtype}); DeepXDE Adam "
             f"{args.dde_adam} + L-BFGS {args.dde_lbfgs} "
             f"({'float64' if args.dde_float64 else 'float32'}); {args.threads} thread(s)")
    details = {k: [{"points": t.points, "hits": {str(h): v for h, v in t.hits.items()}}
                   for t in v] for k, v in lines.items()}
    final_ours = med("ours", lambda t: t.points[-1][2])
    t_ours, t_dde = med("ours", to_1e3), med("deepxde", to_1e3)
    never = [k for k, v in (("ours", t_ours), ("DeepXDE", t_dde)) if v is None]
    return [
        Row("pinn", "heat PINN: training time to rel. L2 <= 1e-3, ours vs DeepXDE", t_ours,
            t_dde, "s", higher_is_better=False,
            note=(f"never reached by {' and '.join(never)}; " if never else "") + setup,
            details=details),
        Row("pinn", "heat PINN: final rel. L2, ours vs DeepXDE", final_ours,
            med("deepxde", lambda t: t.points[-1][2]), "rel. L2", higher_is_better=False,
            target="<= 1e-4", met=final_ours is not None and final_ours <= 1e-4, note=setup),
    ]


SECTION_FUNCTIONS: dict[str, Callable[[Settings, dict[str, Any]], list[Row]]] = {
    "simulator": section_simulator, "gnn": section_gnn, "sr": section_sr, "e2e": section_e2e,
    "pinn": section_pinn}


# ---------------------------------------------------------------------------------------------
# running and the table


def run_sections(names: Sequence[str], settings: Settings) -> list[Row]:
    """Run the named sections in :data:`SECTIONS` order; a :class:`Skip` becomes a skipped row,
    any other exception an error row (its traceback printed). With ``settings.quick`` no
    target is judged (``met`` is ``None``)."""
    rows: list[Row] = []
    for name in (s for s in SECTIONS if s in names):
        print(f"== {name}", flush=True)
        try:
            new = SECTION_FUNCTIONS[name](settings, settings.size(name))
            if settings.quick:  # tiny sizes: the targets are shown, not judged
                for row in new:
                    row.met = None
            rows += new
        except Skip as exc:
            rows.append(Row(name, "the whole section", status=f"skipped: {exc}"))
        except Exception as exc:  # noqa: BLE001  (report it; the other sections still run)
            traceback.print_exc()
            rows.append(Row(name, "the whole section",
                            status=f"error: {type(exc).__name__}: {exc}"))
    return rows


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if math.isinf(x) or math.isnan(x):
        return str(x)
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


COLUMNS = ("section", "what", "ours", "reference", "ratio", "unit", "target", "met", "note")


def table(rows: Sequence[Row]) -> str:
    """The rows as one Markdown table (padded, so it also reads as plain text)."""
    cells = [list(COLUMNS)]
    for r in rows:
        if r.status != "ok":
            cells.append([r.section, r.what, r.status.split(":")[0], "-", "-", "-", "-", "-",
                          r.status])
            continue
        ratio = r.ratio
        met = "" if r.met is None else ("met" if r.met else "missed")
        cells.append([r.section, r.what, _fmt(r.ours), _fmt(r.reference),
                      "-" if ratio is None else f"{ratio:.2f}x", r.unit, r.target or "-",
                      met or "-", r.note])
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    info = {"python": platform.python_version(), "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS,
                    help="sections to run (default: all; always run in the order "
                         f"{' '.join(SECTIONS)})")
    ap.add_argument("--device", default="auto", choices=("cpu", "cuda", "auto"),
                    help="cpu: CPU rows only; cuda or auto (default): GPU rows too, skipped "
                         "where CUDA is not available")
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes, a smoke test of the whole suite in a few minutes")
    ap.add_argument("--repeats", type=int,
                    help="repeats of the timed sections (default: simulator 3, gnn 5, pinn 1; "
                         "--quick: 2, 2, 1)")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--json", metavar="OUT.json", help="also write the rows, with details")
    args = ap.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        ap.error("--repeats must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = Settings(quick=args.quick, device=args.device, repeats=args.repeats)
    info = machine()
    print(", ".join(f"{k} {v}" for k, v in info.items()) + f"; quick {args.quick}", flush=True)
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    rows = run_sections(args.sections, settings)
    print()
    print(table(rows))
    print("ratio: how many times better ours is (reference / ours for times and errors, "
          "ours / reference for rates); medians over the repeats"
          + ("; --quick: tiny sizes, not measurements, targets not judged" if args.quick
             else ""))
    if args.json:
        from physdistill._io import atomic_write_json

        atomic_write_json(args.json, {"started": started, "machine": info,
                                      "settings": dataclasses.asdict(settings),
                                      "sections": args.sections,
                                      "rows": [r.to_dict() for r in rows]})
    return 1 if any(r.status.startswith("error") for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
