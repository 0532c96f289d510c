"""``physdistill pde``: PINNs for any 1-D evolution PDE, and PDE discovery from data.

The parser imports no torch. Formulas and pairs (``--pde``, ``--ic``, ``--domain``,
``--bc-values``) accept values that begin with ``-`` (``--ic "-sin(pi*x)"``, ``--domain -8,8``):
the command's parser joins them to their option first
(:data:`physdistill.cli.DASH_VALUE_OPTIONS`).
"""

from __future__ import annotations

import argparse

from physdistill.errors import PhysDistillError


def pair_option(kind: type) -> object:
    """An argparse type for ``'a,b'`` (two ``kind`` values)."""
    def parse(text: str) -> tuple:
        parts = text.split(",")
        try:
            if len(parts) != 2:
                raise ValueError
            return kind(parts[0]), kind(parts[1])
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected two {kind.__name__}s 'a,b' (e.g. "
                                             f"{'0,1' if kind is float else '256,101'}), got "
                                             f"{text!r}") from None
    return parse


def _coef(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. nu=0.1), got "
                                         f"{text!r}") from None


def mode_options(p: argparse.ArgumentParser, inverse: str, discover: str
                 ) -> argparse._ArgumentGroup:
    """The "mode" group of a PINN command: ``--inverse`` or ``--discover`` (neither: forward)."""
    g = p.add_argument_group("mode")
    mode = g.add_mutually_exclusive_group()
    mode.add_argument("--inverse", action="store_true", help=inverse)
    mode.add_argument("--discover", action="store_true", help=discover)
    return g


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pde", help="PINN for any 1-D evolution PDE; PDE discovery from data",
        description="Solve u_t = F(u, u_x, ...) with a PINN (forward), learn its coefficients "
                    "(--inverse), or discover the PDE from data (--discover, --data FILE), and "
                    "write a run folder (metrics.json, equation.json, report.md, plots).")
    g = p.add_argument_group("problem")
    g.add_argument("--example", default=None,
                   help="built-in problem: heat, burgers, kdv, fisher, burgers-deepxde "
                        "(other problem options override its fields)")
    g.add_argument("--pde", default=None, help='the PDE, e.g. "u_t = -u*u_x + nu*u_xx"')
    g.add_argument("--ic", default=None, help='initial condition in x, e.g. "-sin(pi*x)"')
    g.add_argument("--domain", type=pair_option(float), default=None, metavar="X0,X1")
    g.add_argument("--T", type=float, default=None, help="time horizon")
    g.add_argument("--bc", choices=("periodic", "dirichlet", "neumann"), default=None)
    g.add_argument("--bc-values", type=pair_option(float), default=None, metavar="G0,G1",
                   help="Dirichlet values or Neumann slopes at x0, x1 (default 0,0)")
    g.add_argument("--coef", type=_coef, action="append", default=[], metavar="NAME=VALUE",
                   help="a coefficient value (repeatable), e.g. --coef nu=0.1")
    g = mode_options(p, inverse="learn the coefficients named by --learn from observations",
                     discover="discover the PDE from data (simulated from the problem, or "
                              "--data)")
    g.add_argument("--learn", nargs="+", default=[], metavar="NAME",
                   help="coefficients to learn (--inverse)")
    g.add_argument("--data", default=None, metavar="FILE",
                   help="measured u(x,t): .npz / .mat (x, t, u or usol) or .csv (x,t,u); "
                        "implies --discover")
    g.add_argument("--noise", type=float, default=0.0,
                   help="Gaussian noise relative to std(u) added to observations (default 0)")
    g.add_argument("--observations", type=int, default=200,
                   help="observations of an inverse run (default 200)")
    g.add_argument("--grid", type=pair_option(int), default=None, metavar="NX,NT",
                   help="grid of simulated discovery data (default: the example's, or 256,101)")
    g = p.add_argument_group("PINN training")
    g.add_argument("--adam-steps", type=int, default=None,
                   help="Adam steps (default 1000, or the example's recipe: 2000 for "
                        "burgers-deepxde)")
    g.add_argument("--adam-lr", type=float, default=None,
                   help="Adam's starting learning rate, decaying 10x over the phase (default "
                        "1e-3; the burgers-deepxde recipe: 1e-2 in float32)")
    g.add_argument("--lbfgs-steps", type=int, default=None,
                   help="L-BFGS iterations (default 1000; burgers-deepxde: 3000; heat: at "
                        "most 10000, stopping once the loss stalls)")
    g.add_argument("--points", type=int, default=2540, help="collocation points")
    g.add_argument("--resample-every", type=int, default=None,
                   help="residual-based resampling period in Adam steps (default 0: off; "
                        "burgers-deepxde: 250)")
    g.add_argument("--holdout", type=int, default=None,
                   help="held-out collocation points scored after every L-BFGS chunk; the "
                        "best-scoring weights are kept (default 0: off; burgers-deepxde: "
                        "4096)")
    g.add_argument("--restarts", type=int, default=None,
                   help="new attempts (new seed) after the --holdout guard stops L-BFGS on a "
                        "climbing held-out loss (default 0; burgers-deepxde: 1)")
    g.add_argument("--width", type=int, default=None, help="neurons per layer (default 20 for "
                                                          "PINNs, 32 for discovery)")
    g.add_argument("--depth", type=int, default=None, help="hidden layers (3 / 4)")
    g.add_argument("--hard", choices=("auto", "on", "off"), default="auto")
    g.add_argument("--float32", action="store_true", default=None,
                   help="float32 instead of float64 (the burgers-deepxde recipe's default)")
    g.add_argument("--float64", dest="float32", action="store_false",
                   help="float64 even where the example's recipe says float32")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    g.add_argument("--device", default="auto")
    g = p.add_argument_group("discovery")
    g.add_argument("--fit-adam", type=int, default=500, help="data-fit Adam steps (500)")
    g.add_argument("--fit-lbfgs", type=int, default=1000, help="data-fit L-BFGS (1000)")
    g.add_argument("--physics-steps", type=int, default=0,
                   help="L-BFGS iterations of the physics refinement (default 0: off; 300 "
                        "helps --strong)")
    g.add_argument("--strong", action="store_true",
                   help="regress on autograd derivatives at points instead of the weak form")
    g.add_argument("--threshold", type=float, default=0.05)
    g.add_argument("--ensemble", type=int, default=50)
    g.add_argument("--degree", type=int, default=2, help="library: powers of u (default 2)")
    g.add_argument("--order", type=int, default=3, help="library: x-derivatives (default 3)")
    g = p.add_argument_group("output")
    g.add_argument("--out", default=None, help="run folder (default runs/pde-<name>)")
    g.add_argument("--force", action="store_true")
    g.add_argument("--resume", action="store_true")
    g.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run_pde_command)


def build_config(args: argparse.Namespace):  # -> PDERunConfig (torch stays unimported)
    from physdistill.pde.discover import DiscoveryConfig
    from physdistill.pde.examples import EXAMPLES, RECIPES
    from physdistill.pde.model import NetConfig
    from physdistill.pde.pipeline import PDERunConfig
    from physdistill.pde.problem import PDEProblem
    from physdistill.pde.train import TrainConfig

    if args.force and args.resume:
        raise PhysDistillError("give --force (start over) or --resume (continue), not both")
    discover = args.discover or args.data is not None
    if args.inverse and args.data is not None:
        raise PhysDistillError("--data is for discovery; an inverse run observes the problem's "
                               "reference solution")
    spec: dict = {}
    grid = (256, 101)
    if args.example is not None:
        if args.example not in EXAMPLES:
            raise PhysDistillError(f"unknown --example {args.example!r}; expected one of "
                                   f"{sorted(EXAMPLES)}")
        spec = dict(EXAMPLES[args.example])
        grid = spec.pop("grid")
        spec["name"] = args.example
    for key, val in (("pde", args.pde), ("ic", args.ic), ("domain", args.domain),
                     ("T", args.T), ("bc", args.bc), ("bc_values", args.bc_values)):
        if val is not None:
            spec[key] = val
    if args.coef:
        spec["coefficients"] = {**spec.get("coefficients", {}), **dict(args.coef)}
    problem = None
    if spec or not (discover and args.data):
        missing = [k for k in ("pde", "ic") if k not in spec]
        if missing:
            raise PhysDistillError(f"the problem needs --{' and --'.join(missing)} (or "
                                   "--example NAME); e.g. --pde 'u_t = -u*u_x + nu*u_xx' "
                                   "--coef nu=0.1 --ic '-sin(pi*x)' --bc dirichlet")
        if args.learn and not args.inverse:
            raise PhysDistillError("--learn applies to --inverse runs; add --inverse")
        problem = PDEProblem(**spec, learn=tuple(args.learn))
    dtype = "float32" if args.float32 else "float64"
    # PINN training: a flag given on the command line, else the example's recipe, else the
    # general default
    recipe = {"dtype": "float64", "adam_steps": 1000, "adam_lr": 1e-3, "lbfgs_steps": 1000,
              "resample_every": 0, "holdout": 0, "restarts": 0,
              **RECIPES.get(args.example or "", {})}
    for key in ("adam_steps", "adam_lr", "lbfgs_steps", "resample_every", "holdout",
                "restarts"):
        if getattr(args, key) is not None:
            recipe[key] = getattr(args, key)
    if args.float32 is not None:
        recipe["dtype"] = dtype
    disc = DiscoveryConfig(width=args.width or 32, depth=args.depth or 4, fit_adam=args.fit_adam,
                           fit_lbfgs=args.fit_lbfgs, physics_steps=args.physics_steps,
                           **({"weak": None} if args.strong else {}),
                           threshold=args.threshold, ensemble=args.ensemble,
                           degree=args.degree, order=args.order, seed=args.seed, dtype=dtype,
                           device="cpu" if args.device == "auto" else args.device,
                           progress=not args.quiet)
    return PDERunConfig(
        mode="discover" if discover else ("inverse" if args.inverse else "forward"),
        problem=problem, data=args.data, grid=args.grid or grid, noise=args.noise,
        n_observations=args.observations,
        net=NetConfig(width=args.width or 20, depth=args.depth or 3, hard=args.hard),
        train=TrainConfig(**recipe, n_domain=args.points, seed=args.seed,
                          device=args.device, progress=not args.quiet),
        discovery=disc, threads=args.threads)


def run_pde_command(args: argparse.Namespace) -> int:
    from physdistill.pde.pipeline import run_pde

    config = build_config(args)
    name = config.problem.name if config.problem is not None else "data"
    out = args.out or f"runs/pde-{name}-{config.mode}"
    m = run_pde(config, out, force=args.force, resume=args.resume)
    print(f"pde run written to {out} (metrics.json, equation.json, report.md, plots)")
    if m["mode"] == "discover":
        d = m["discovery"]
        print(f"  discovered  {d['expression'] or d['candidate'] + ' (not identifiable)'}")
        if "pdefind" in m:
            print(f"  PDE-FIND    {m['pdefind']['expression']}")
        for w in d["warnings"]:
            print(f"warning: {w}")
    else:
        print(f"  rel. L2     {m.get('rel_l2')}")
        for c, v in (m.get("coefficients") or {}).items():
            print(f"  {c:<10}  {v['learned']:.6g} (true {v['true']})")
    return 0
