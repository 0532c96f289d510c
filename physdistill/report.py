"""``physdistill report RUN``: re-render a run folder's report (``report.md`` and
``index.html``) and plots from its saved files; ``--open`` prints the HTML report's path.

Each run kind names the function that writes its report; the run folder's ``run.json`` says
which kind it is.
"""

from __future__ import annotations

import argparse
import importlib

#: run kind -> "module:function" taking a RunFolder and returning the metrics
WRITERS = {"nbody": "physdistill.nbody.report:write_report",
           "heat": "physdistill.heat.report:write_report",
           "gnn": "physdistill.gnn.report:write_report",
           "transformer": "physdistill.transformer.report:rerender"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="re-render a run's report.md, index.html (and n-body "
                                      "and message-distillation plots)",
                       description="Rewrite report.md and index.html of a run folder from the "
                                   "files it holds, without training; for n-body runs also "
                                   "metrics.json, equations.json and every plot; for message "
                                   "distillations (physdistill.gnn) every plot.")
    p.add_argument("run", help="run folder")
    p.add_argument("--open", action="store_true",
                   help="print the path of the HTML report (index.html) to open in a browser")
    p.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    from physdistill.errors import PhysDistillError
    from physdistill.runs import RunFolder

    run = RunFolder.open(args.run, lock=True)  # no other writer while the report is redrawn
    with run:
        if run.kind not in WRITERS:
            raise PhysDistillError(f"{args.run} is a {run.kind!r} run; reports exist for "
                                   f"{sorted(WRITERS)}")
        module, func = WRITERS[run.kind].split(":")
        getattr(importlib.import_module(module), func)(run)
    print(f"wrote {run.file('report.md')} and {run.file('index.html')}")
    if args.open:
        print(run.file("index.html").resolve())
    return 0
