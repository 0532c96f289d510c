"""``physdistill report RUN``: re-render a run folder's report and plots from its saved files.

Each run kind names the function that writes its report; the run folder's ``run.json`` says
which kind it is.
"""

from __future__ import annotations

import argparse
import importlib

#: run kind -> "module:function" taking a RunFolder and returning the metrics
WRITERS = {"nbody": "physdistill.nbody.report:write_report",
           "heat": "physdistill.heat.report:write_report"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="re-render a run's report.md and plots",
                       description="Rewrite metrics.json, report.md and the plots of a run "
                                   "folder from the files it holds (no training).")
    p.add_argument("run", help="run folder")
    p.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    from physdistill.errors import PhysDistillError
    from physdistill.runs import RunFolder

    run = RunFolder.open(args.run)
    if run.kind not in WRITERS:
        raise PhysDistillError(f"{args.run} is a {run.kind!r} run; reports exist for "
                               f"{sorted(WRITERS)}")
    module, func = WRITERS[run.kind].split(":")
    getattr(importlib.import_module(module), func)(run)
    print(f"wrote {run.file('report.md')}")
    return 0
