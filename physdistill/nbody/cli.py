"""``physdistill simulate`` and ``physdistill train``: the n-body subcommands.

Parsers import no torch; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse

LAW_NAMES = ("spring", "r1", "r2", "charge", "damped", "discontinuous", "superposition")
#: the built-in OGN variants (:data:`physdistill.nbody.model.VARIANTS`, repeated to keep torch
#: out of the parser)
REG_NAMES = ("standard", "bottleneck", "l1", "kl", "pruning")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate", help="simulate an n-body law and write a dataset folder",
        description="Simulate many n-body systems under a force law and write a dataset "
                    "(data.safetensors + meta.json). Defaults reproduce Cranmer et al. 2020.")
    p.add_argument("law", nargs="?", help=f"built-in law: {', '.join(LAW_NAMES)} "
                                          "(omit with --potential)")
    p.add_argument("--potential", help='user pair potential in r (softened), m1, m2, q1, q2, '
                                       'e.g. "m1*m2*exp(-r)/r"')
    p.add_argument("--n", type=int, default=4, help="particles per system (default 4)")
    p.add_argument("--dim", type=int, default=2, choices=(2, 3), help="spatial dimension")
    p.add_argument("--sims", type=int, default=10_000, help="systems (default 10000)")
    p.add_argument("--steps", type=int, default=500, help="integration steps (default 500)")
    p.add_argument("--keep-every", type=int, default=5, help="keep every k-th step (default 5)")
    p.add_argument("--dt", type=float, help="time step (default: the law's own)")
    p.add_argument("--eps", type=float, default=0.01, help="softening (default 0.01)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("--out", help="dataset folder (default data/LAW-nN-dD-sS)")
    p.add_argument("--force", action="store_true", help="replace an existing folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_simulate)
    _register_train(sub)


def run_simulate(args: argparse.Namespace) -> int:
    from physdistill.errors import PhysDistillError
    from physdistill.nbody.dataset import make_dataset
    from physdistill.nbody.laws import get_law
    from physdistill.nbody.simulate import SimConfig

    if args.law is None and args.potential is None:
        raise PhysDistillError("give a law name (e.g. 'physdistill simulate r2') or --potential")
    if args.law is not None and args.potential is not None:
        raise PhysDistillError(f"give either a law name ({args.law!r}) or --potential, not both")
    law = get_law(args.law, potential=args.potential, dt=args.dt, eps=args.eps)
    cfg = SimConfig(n=args.n, dim=args.dim, sims=args.sims, steps=args.steps,
                    keep_every=args.keep_every, dt=args.dt, seed=args.seed, device=args.device)
    cfg.validate()
    out = args.out or f"data/{law.name}-n{cfg.n}-d{cfg.dim}-s{cfg.sims}"
    path = make_dataset(law, cfg, out, force=args.force, progress=not args.quiet)
    from physdistill._io import read_json

    meta = read_json(path / "meta.json")
    st = meta["simulator"]
    print(f"wrote {path}: {st['kept']} systems x {cfg.steps // cfg.keep_every} snapshots "
          f"({law.name}, n={cfg.n}, dim={cfg.dim}, dt={meta['dt']}) in {meta['seconds']:.1f} s")
    print(f"accuracy check ({st['check']}): {st['refined']} systems refined, {st['dropped']} "
          f"dropped; energy drift median {st['energy_drift_median']:.2e}, "
          f"max {st['energy_drift_max']:.2e}")
    return 0


def _register_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train an OGN on an n-body dataset",
        description="Train a message-passing graph network (OGN) with a message regulariser on a "
                    "dataset made by 'physdistill simulate'. Writes checkpoint.safetensors, "
                    "checkpoint.json, history.json and config.json into the run folder after "
                    "every epoch. Defaults follow Cranmer et al. 2020. Under torchrun "
                    "(--nproc_per_node N) each process trains on its share of the data.")
    p.add_argument("dataset", help="dataset folder")
    p.add_argument("--reg", default="bottleneck", choices=REG_NAMES,
                   help="message regulariser (default bottleneck)")
    p.add_argument("--epochs", type=int, default=30, help="epochs (default 30)")
    p.add_argument("--batch", type=int, default=64, help="graphs per step (per process; "
                                                         "default 64)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    p.add_argument("--hidden", type=int, default=300, help="MLP width (default 300)")
    p.add_argument("--steps-per-epoch", type=int, help="cap on steps per epoch (default: all)")
    p.add_argument("--out", help="run folder (default runs/train-DATASET-REG)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last finished epoch")
    p.add_argument("--force", action="store_true", help="start over in an existing run folder")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--amp", default="none", choices=("none", "bf16"),
                   help="mixed precision (GPU; default none)")
    p.add_argument("--tf32", action="store_true",
                   help="TF32 matrix products on CUDA (faster; off by default)")
    p.add_argument("--no-cuda-graphs", dest="cuda_graphs", action="store_false",
                   help="run each step eagerly on CUDA (no graph capture)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    import contextlib
    import os
    from pathlib import Path

    import torch

    from physdistill.errors import PhysDistillError
    from physdistill.nbody.dataset import load_dataset
    from physdistill.nbody.model import OGN, OGNConfig
    from physdistill.nbody.provenance import law_record
    from physdistill.nbody.train import TrainConfig, Trainer
    from physdistill.runs import RunFolder, check_not_inside, fingerprint

    if args.resume and args.force:
        raise PhysDistillError("--resume continues a run and --force starts it over; give one")
    ds = load_dataset(args.dataset)
    model_cfg = OGNConfig(dim=ds.dim, variant=args.reg, hidden=args.hidden).validate()
    train_cfg = TrainConfig(epochs=args.epochs, batch=args.batch, lr=args.lr,
                            steps_per_epoch=args.steps_per_epoch, seed=args.seed,
                            device=args.device, amp=args.amp, tf32=args.tf32,
                            cuda_graphs=args.cuda_graphs).validate()
    train, val = ds.graphs("train"), ds.graphs("val")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if train[0].shape[0] // world < args.batch:  # before anything is written
        raise PhysDistillError(f"{args.dataset} has {train[0].shape[0]} training graphs: no full "
                               f"batch of {args.batch} per process ({world}); lower --batch")
    out = Path(args.out or f"runs/train-{Path(args.dataset).resolve().name}-{args.reg}")
    config = {"dataset": str(Path(args.dataset).resolve()), "model": model_cfg.to_dict(),
              "train": train_cfg.to_dict()}
    run = None
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 writes
        # --force empties the folder: no stale checkpoint can be resumed later
        if args.force:
            check_not_inside(out, args.dataset, "dataset")
        run = RunFolder(out, "nbody-train", force=args.force, resume=args.resume, config=config)
    try:  # a refusal below leaves no run.json behind (RunFolder.close)
        if run is not None:
            run.inputs.update(law=law_record(ds.law), dataset=fingerprint(args.dataset))
            run.check_stages()
            run.write_json("config.json", config)
        torch.manual_seed(args.seed)
        model = OGN(model_cfg)
        trainer = Trainer(train_cfg, out=out, resume=args.resume, progress=not args.quiet)
        with run.stage("train") if run is not None else contextlib.nullcontext({}) as info:
            trainer.fit(model, train, val if val[0].shape[0] else None)
            info.update(device=str(trainer.device_), processes=trainer.dist_.world)
    except BaseException as exc:
        if run is not None:
            run.close(exc)
        raise
    if run is None:
        return 0
    run.close()
    h = trainer.history_
    val_text = "" if h["val"][-1] is None else f", val MAE {h['val'][-1]:.4g}"
    print(f"trained the {args.reg} OGN for {trainer.epochs_done_} epochs on "
          f"{trainer.device_}: train MAE {h['train'][-1]:.4g}{val_text}; wrote {out}")
    return 0
