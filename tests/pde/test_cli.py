"""``physdistill pde`` on tiny budgets: run folders, formula values starting with '-', errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from physdistill.cli import main

TINY = ["--adam-steps", "30", "--lbfgs-steps", "10", "--points", "200", "--quiet"]


def test_forward_run_with_minus_formula_values(tmp_path, capsys):
    out = tmp_path / "fwd"
    args = ["pde", "--pde", "u_t = -u*u_x + 0.05*u_xx", "--ic", "-sin(pi*x)", "--domain", "-1,1",
            "--T", "0.5", "--bc", "dirichlet", "--out", str(out), *TINY]
    assert main(args) == 0
    assert "rel. L2" in capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text())
    assert m["mode"] == "forward" and 0 < m["rel_l2"] < 1.5
    assert m["problem"]["ic"] == "-sin(pi*x)" and m["network"]["hard_bc"]
    for name in ("solution.png", "errors.png", "pde_residual.png", "loss.png", "report.md",
                 "equation.json", "checkpoint.safetensors"):
        assert (out / name).is_file(), name
    assert main([*args, "--resume"]) == 0  # finished: the trainer loads its final checkpoint
    assert json.loads((out / "metrics.json").read_text())["rel_l2"] == pytest.approx(m["rel_l2"])
    assert main(args) == 2  # exists: --force or --resume
    assert "already exists" in capsys.readouterr().err


def test_inverse_run_reports_learned_coefficient(tmp_path):
    out = tmp_path / "inv"
    assert main(["pde", "--example", "heat", "--coef", "alpha=0.2", "--inverse", "--learn",
                 "alpha", "--observations", "50", "--out", str(out), *TINY]) == 0
    m = json.loads((out / "metrics.json").read_text())
    c = m["coefficients"]["alpha"]
    assert c["true"] == 0.2 and c["learned"] != 1.0 and (out / "coefficient_alpha.png").is_file()


def test_discovery_from_a_data_file(tmp_path):
    x = np.linspace(0, 1, 33)
    t = np.linspace(0, 0.3, 21)
    X, T = np.meshgrid(x, t, indexing="ij")
    u = np.exp(-0.4 * np.pi**2 * T) * np.sin(np.pi * X) + 0.5 * np.exp(-3.6 * np.pi**2 * T) \
        * np.sin(3 * np.pi * X)
    np.savez(tmp_path / "heat.npz", x=x, t=t, u=u)
    out = tmp_path / "disc"
    assert main(["pde", "--data", str(tmp_path / "heat.npz"), "--fit-adam", "300",
                 "--fit-lbfgs", "300", "--physics-steps", "0", "--ensemble", "5", "--degree",
                 "1", "--order", "2", "--width", "16", "--depth", "3", "--strong", "--out",
                 str(out), "--quiet"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    d = m["discovery"]
    assert set(d["terms"]) == {"u_xx"} and d["terms"]["u_xx"] == pytest.approx(0.4, rel=0.05)
    assert m["pdefind"]["expression"].startswith("u_t = ")  # the anchor ran (FD on this
    # coarse 33 x 21 grid finds spurious terms; that comparison is benchmarks/pde_discovery.py)
    assert (out / "pde_fit.png").is_file() and (out / "report.md").is_file()


@pytest.mark.parametrize("args, message", [
    (["--pde", "u_t = -u*u_x + nuu*u_xx", "--coef", "nu=0.1", "--ic", "sin(x)"],
     "unknown symbol 'nuu'"),
    (["--pde", "u_t = u_xxxxx", "--ic", "sin(x)"], "order 5"),
    (["--pde", "u_xx = u", "--ic", "sin(x)"], "not an evolution equation"),
    (["--pde", "u_t = u_xx"], "needs --ic"),
    (["--example", "burger"], "unknown --example 'burger'"),
    (["--example", "heat", "--learn", "alpha"], "--learn applies to --inverse"),
])
def test_bad_input_is_one_line(tmp_path, capsys, args, message):
    assert main(["pde", *args, "--out", str(tmp_path / "x"), *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err


def test_bad_data_file_is_one_line(tmp_path, capsys):
    np.savez(tmp_path / "bad.npz", x=np.arange(4.0), t=np.arange(3.0),
             u=np.full((4, 3), np.nan))
    assert main(["pde", "--data", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "o"),
                 "--quiet"]) == 2
    assert "NaN" in capsys.readouterr().err


def test_burgers_recipe_options_reach_the_train_config(capsys):
    from physdistill.cli import build_parser
    from physdistill.pde.cli import build_config

    args = build_parser().parse_args(
        ["pde", "--example", "burgers-deepxde", "--float32", "--adam-lr", "1e-2",
         "--adam-steps", "2000", "--resample-every", "250", "--lbfgs-steps", "3000",
         "--holdout", "4096", "--restarts", "1"])
    t = build_config(args).train
    assert (t.adam_lr, t.dtype, t.adam_steps, t.resample_every, t.lbfgs_steps, t.holdout,
            t.restarts) == (1e-2, "float32", 2000, 250, 3000, 4096, 1)
    # the example's own recipe is the same, without the flags; a flag still overrides it
    plain = build_config(build_parser().parse_args(["pde", "--example", "burgers-deepxde"]))
    assert plain.train == t
    over = build_config(build_parser().parse_args(
        ["pde", "--example", "burgers-deepxde", "--float64", "--adam-lr", "3e-3"])).train
    assert (over.dtype, over.adam_lr, over.adam_steps) == ("float64", 3e-3, 2000)
    other = build_config(build_parser().parse_args(["pde", "--example", "heat"])).train
    assert (other.dtype, other.adam_lr, other.adam_steps, other.holdout) == \
        ("float64", 1e-3, 1000, 0)
    assert (other.lbfgs_steps, other.lbfgs_history, other.lbfgs_stall) == (10_000, 500, 0.01)
    fisher = build_config(build_parser().parse_args(["pde", "--example", "fisher"])).train
    assert (fisher.lbfgs_steps, fisher.lbfgs_history, fisher.lbfgs_stall) == (1000, 50, 0.0)
    assert main(["pde", "--example", "burgers-deepxde", "--holdout", "0", "--restarts", "1",
                 *TINY]) == 2
    assert "needs the held-out guard" in capsys.readouterr().err
