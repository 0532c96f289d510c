"""``physdistill heat``: train a heat-equation PINN, distil its solution and PDE, report.

The parser imports no torch; the run imports :mod:`physdistill.heat.pipeline` when it starts.
Pairs read like ``physdistill pde``'s (:func:`physdistill.pde.cli.pair_option`); ``--ic``,
``--domain`` and ``--bc`` accept values that start with ``-`` (``--domain -1,1``), as every
option of :data:`physdistill.cli.DASH_VALUE_OPTIONS` does.
"""

from __future__ import annotations

import argparse

from physdistill.pde.cli import mode_options, pair_option
from physdistill.pde.examples import RECIPES

RECIPE = RECIPES["heat"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "heat", help="heat-equation PINN: train, distil the solution and the PDE",
        description="Solve u_t = alpha u_xx on [x0,x1] x [0,T] with Dirichlet boundaries by a "
                    "PINN (Adam, then L-BFGS), distil the network's u(x,t) into a formula, "
                    "recover the PDE from the network, and write a run folder (metrics.json, "
                    "report.md, PNG plots, checkpoint). --inverse learns alpha from "
                    "observations; --discover finds the PDE from noisy data without knowing it.")
    g = p.add_argument_group("problem")
    g.add_argument("--alpha", type=float, default=0.4, help="diffusivity (default 0.4)")
    g.add_argument("--ic", default="sin(pi*x)",
                   help='initial condition in x (default "sin(pi*x)"), e.g. '
                        '"sin(pi*x)+0.5*sin(3*pi*x)"')
    g.add_argument("--domain", type=pair_option(float), default=(0.0, 1.0), metavar="X0,X1",
                   help="space interval (default 0,1)")
    g.add_argument("--T", type=float, default=1.0, help="time horizon (default 1)")
    g.add_argument("--bc", type=pair_option(float), default=(0.0, 0.0), metavar="UL,UR",
                   help="Dirichlet values at x0 and x1 (default 0,0)")
    g = mode_options(p, inverse="learn alpha from --observations samples of the solution",
                     discover="find the PDE from noisy observations (sparsity-regularised "
                              "PINN)")
    g.add_argument("--observations", type=int, default=None,
                   help="observations (default 200 for --inverse, 1000 for --discover)")
    g.add_argument("--noise", type=float, default=None,
                   help="observation noise relative to std(u) (default 0 for --inverse, "
                        "0.01 for --discover)")
    g = p.add_argument_group("training")
    g.add_argument("--adam-steps", type=int, default=1000, help="Adam steps (default 1000)")
    g.add_argument("--lbfgs-steps", type=int, default=RECIPE["lbfgs_steps"],
                   help=f"L-BFGS iterations, at most (default {RECIPE['lbfgs_steps']})")
    g.add_argument("--lbfgs-stall", type=float, default=RECIPE["lbfgs_stall"],
                   help=f"stop L-BFGS once its last {RECIPE['lbfgs_stall_window']} iterations "
                        f"lowered the loss by less than this fraction (default "
                        f"{RECIPE['lbfgs_stall']:g}; 0: run all --lbfgs-steps)")
    g.add_argument("--points", type=int, default=2540, help="collocation points (default 2540)")
    g.add_argument("--width", type=int, default=None,
                   help="neurons per layer (default 20; 32 with --discover)")
    g.add_argument("--depth", type=int, default=3, help="hidden layers (default 3)")
    g.add_argument("--hard", choices=("auto", "on", "off"), default="auto",
                   help="exact IC/BC output transform (default auto: on when the IC meets "
                        "the boundary values)")
    g.add_argument("--balance", choices=("fixed", "gradnorm"), default="fixed",
                   help="loss weights: fixed, or balanced by gradient norms (default fixed)")
    prec = g.add_mutually_exclusive_group()
    prec.add_argument("--float64", dest="dtype", action="store_const", const="float64",
                      help="float64 (the default)")
    prec.add_argument("--float32", dest="dtype", action="store_const", const="float32",
                      help="float32 (faster on GPUs, about 1e-3 less accurate)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--threads", type=int, default=1,
                   help="CPU threads for torch (default 1: fastest for these small networks, "
                        "and robust on a busy machine)")
    g.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    g = p.add_argument_group("distillation")
    g.add_argument("--sr-time", type=float, default=90.0,
                   help="time limit of each symbolic-regression search in seconds (default "
                        "90; the searches usually end earlier, at their evaluation budgets)")
    g = p.add_argument_group("output")
    g.add_argument("--out", default="runs/heat", help="run folder (default runs/heat)")
    g.add_argument("--force", action="store_true", help="overwrite an existing run folder")
    g.add_argument("--resume", action="store_true", help="continue a run, skipping finished "
                                                         "stages")
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_heat_command, dtype="float64")


def build_config(args: argparse.Namespace):  # -> HeatRunConfig (torch stays unimported)
    """The :class:`~physdistill.heat.pipeline.HeatRunConfig` for parsed arguments."""
    from physdistill.errors import PhysDistillError
    from physdistill.heat.discover import DiscoveryConfig
    from physdistill.heat.pde import PDEConfig
    from physdistill.heat.pinn import ModelConfig
    from physdistill.heat.pipeline import HeatRunConfig
    from physdistill.heat.problem import HeatProblem
    from physdistill.heat.solution import SolutionConfig
    from physdistill.heat.train import recipe_config

    if args.force and args.resume:
        raise PhysDistillError("give --force (start over) or --resume (continue), not both")
    if (args.observations is not None or args.noise is not None) and not (
            args.inverse or args.discover):
        raise PhysDistillError("--observations and --noise apply to --inverse and --discover "
                               "runs; add one of them")
    problem = HeatProblem(alpha=args.alpha, ic=args.ic, domain=args.domain, T=args.T,
                          bc=args.bc)
    progress = not args.quiet
    if args.discover:
        disc = DiscoveryConfig(
            n_observations=1000 if args.observations is None else args.observations,
            noise=0.01 if args.noise is None else args.noise, width=args.width or 32,
            depth=args.depth, seed=args.seed, device=args.device, dtype=args.dtype,
            progress=progress)
        return HeatRunConfig(problem=problem, mode="discover", discovery=disc,
                             threads=args.threads)
    if not args.sr_time > 0:
        raise PhysDistillError(f"--sr-time must be > 0 seconds, got {args.sr_time}")
    solution, pde = SolutionConfig(), PDEConfig(seed=args.seed)
    solution = SolutionConfig(sr=solution.sr.replace(time_limit_s=args.sr_time,
                                                     seed=args.seed))
    pde = PDEConfig(seed=args.seed, sr=pde.sr.replace(time_limit_s=args.sr_time,
                                                      seed=args.seed))
    return HeatRunConfig(
        problem=problem, mode="inverse" if args.inverse else "forward",
        model=ModelConfig(width=args.width or 20, depth=args.depth, hard=args.hard,
                          learn_alpha=args.inverse),
        train=recipe_config(adam_steps=args.adam_steps, lbfgs_steps=args.lbfgs_steps,
                            lbfgs_stall=args.lbfgs_stall, n_domain=args.points,
                            balance=args.balance, dtype=args.dtype, seed=args.seed,
                            device=args.device, progress=progress),
        n_observations=200 if args.observations is None else args.observations,
        noise=0.0 if args.noise is None else args.noise, solution=solution, pde=pde,
        threads=args.threads)


def run_heat_command(args: argparse.Namespace) -> int:
    from physdistill.heat.pipeline import run_heat
    from physdistill.heat.report import summary_rows

    config = build_config(args)
    metrics = run_heat(config, args.out, force=args.force, resume=args.resume)
    rows = summary_rows(metrics)
    width = max(len(k) for k, _ in rows)
    print(f"heat run written to {args.out} (metrics.json, report.md, plots)")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    for w in dict.fromkeys(metrics.get("pde", {}).get("warnings", [])):
        print(f"warning: {w}")
    return 0
