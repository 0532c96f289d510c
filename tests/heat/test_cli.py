"""``physdistill heat`` on a tiny configuration: the run folder, resume, one-line errors."""

from __future__ import annotations

import json

import pytest

from physdistill.cli import main

TINY = ["--adam-steps", "60", "--lbfgs-steps", "40", "--points", "300", "--sr-time", "2",
        "--quiet"]


def test_heat_run_folder_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["heat", "--ic", "sin(pi*x)+0.5*sin(3*pi*x)", "--inverse", "--observations", "50",
            "--out", str(out), *TINY]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "rel. L2 network vs reference" in printed and "alpha learned" in printed
    m = json.loads((out / "metrics.json").read_text())
    assert m["alpha_true"] == 0.4 and m["rel_l2_network"] > 0
    assert m["alpha_learned"] != 1.0 and m["observations"] == {"n": 50, "noise": 0.0}
    assert {"expression", "latex", "rel_l2_vs_exact", "constants"} <= set(m["solution"])
    assert {"expression", "alpha", "rel_error", "identifiable"} <= set(m["pde"])
    assert {"train", "solution", "pde", "plots", "total"} <= set(m["timings"])
    for name in ("solution.png", "errors.png", "pde_residual.png", "loss.png", "pareto.png",
                 "alpha.png", "checkpoint.safetensors", "checkpoint.json", "report.md"):
        assert (out / name).is_file(), name
    report = (out / "report.md").read_text()
    assert "![errors](errors.png)" in report
    # resume: every stage is done, so nothing is recomputed
    assert main([*args, "--resume"]) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert again["solution"] == m["solution"] and again["timings"]["train"] == \
        m["timings"]["train"]
    capsys.readouterr()
    # an existing folder needs --force or --resume; other settings cannot resume it
    assert main(["heat", "--out", str(out), *TINY]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["heat", "--out", str(out), "--resume", *TINY]) == 2
    assert "settings differ" in capsys.readouterr().err


@pytest.mark.parametrize("args, fragment", [
    (["--ic", "import os"], "cannot read initial condition"),
    (["--alpha", "-1"], "alpha must be > 0"),
    (["--noise", "0.1"], "apply to --inverse and --discover"),
    (["--force", "--resume"], "not both"),
    (["--sr-time", "0"], "--sr-time must be > 0"),
])
def test_errors_are_one_line(args, fragment, tmp_path, capsys):
    assert main(["heat", "--out", str(tmp_path / "x"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and fragment in err[0]


def test_no_training_steps_is_refused_before_the_run_folder(tmp_path, capsys):
    """Issue 20: ``heat --adam-steps 0 --lbfgs-steps 0`` raised IndexError and left ``train``
    marked done in run.json."""
    out = tmp_path / "x"
    assert main(["heat", "--out", str(out), "--adam-steps", "0", "--lbfgs-steps", "0",
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no training steps" in err[0], err
    assert not out.exists()


def test_an_initial_condition_may_start_with_a_minus_sign(tmp_path):
    """Issue 17 item 5: a formula option's value starting with '-' was read as an option."""
    from physdistill.cli import build_parser

    args = build_parser().parse_args(["heat", "--ic", "-sin(pi*x)", "--out", str(tmp_path / "x")])
    assert args.ic == "-sin(pi*x)"


def test_training_takes_the_heat_recipe_and_flags_override_it(tmp_path):
    from physdistill.cli import build_parser
    from physdistill.heat.cli import build_config
    from physdistill.heat.pipeline import HeatRunConfig
    from physdistill.heat.train import recipe_config
    from physdistill.pde.examples import RECIPES

    def train(*extra):
        return build_config(build_parser().parse_args(
            ["heat", "--out", str(tmp_path / "x"), *extra])).train

    cfg = train()
    assert (cfg.lbfgs_steps, cfg.lbfgs_history, cfg.lbfgs_stall, cfg.lbfgs_stall_window) == \
        (10_000, 500, 0.01, 250) == tuple(RECIPES["heat"][k] for k in (
            "lbfgs_steps", "lbfgs_history", "lbfgs_stall", "lbfgs_stall_window"))
    assert HeatRunConfig().train == recipe_config() and cfg.adam_steps == 1000
    off = train("--lbfgs-stall", "0", "--lbfgs-steps", "1000")
    assert (off.lbfgs_stall, off.lbfgs_steps, off.lbfgs_history) == (0.0, 1000, 500)
