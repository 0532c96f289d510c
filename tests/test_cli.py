"""The command line: help, version, one-line errors with exit status 2, a small simulate run."""

import argparse
import subprocess
import sys

import pytest

from physdistill import __version__
from physdistill.cli import main


def _run(*args):
    return subprocess.run([sys.executable, "-m", "physdistill.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_help_and_version():
    out = _run("--help")
    assert out.returncode == 0 and "simulate" in out.stdout
    out = _run("--version")
    assert out.returncode == 0 and __version__ in out.stdout


@pytest.mark.parametrize("args, fragment", [
    (["simulate", "r3"], "unknown force law 'r3'"),
    (["simulate"], "give a law name"),
    (["simulate", "--potential", "__import__('os').system('echo hi')"], "not allowed"),
    (["simulate", "r2", "--sims", "0"], "sims must be a positive integer"),
])
def test_errors_are_one_line_with_status_2(args, fragment, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and fragment in err[0]


def test_simulate_writes_a_dataset(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["simulate", "spring", "--sims", "6", "--steps", "20", "--out", str(out),
                 "--quiet", "--device", "cpu"]) == 0
    assert (out / "data.safetensors").is_file() and (out / "meta.json").is_file()
    assert "wrote" in capsys.readouterr().out
    assert main(["simulate", "spring", "--sims", "6", "--out", str(out), "--quiet"]) == 2


def test_import_is_light():
    code = ("import sys, physdistill, physdistill.cli; "
            "bad = [m for m in ('torch', 'pysr', 'juliacall', 'pyoperon') if m in sys.modules]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_formula_values_may_start_with_a_minus_sign(tmp_path, capsys):
    """Issue 17 item 5: ``--potential "-m1*m2/r**2"`` failed with argparse's "expected one
    argument"."""
    from physdistill.cli import join_dash_values

    joined = join_dash_values(["nbody", "--potential", "-m1/r", "--ic", "-sin(pi*x)", "--",
                               "--potential", "-x"])
    assert joined == ["nbody", "--potential=-m1/r", "--ic=-sin(pi*x)", "--", "--potential", "-x"]
    assert join_dash_values(joined) == joined
    out = tmp_path / "d"
    assert main(["simulate", "--potential", "-m1*m2/r**2", "--sims", "4", "--steps", "10",
                 "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    import json

    assert json.loads((out / "meta.json").read_text())["law"]["potential"] == "-m1*m2/r**2"


#: every option whose value may start with '-', in every command that has it: (command line,
#: attribute, value parsed)
DASH_VALUES = [
    (["simulate", "--potential", "-m1*m2/r**2"], "potential", "-m1*m2/r**2"),
    (["nbody", "--potential", "-m1*m2/r**2"], "potential", "-m1*m2/r**2"),
    (["heat", "--ic", "-sin(pi*x)"], "ic", "-sin(pi*x)"),
    (["heat", "--domain", "-1,1"], "domain", (-1.0, 1.0)),
    (["heat", "--bc", "-1,0.5"], "bc", (-1.0, 0.5)),
    (["pde", "--pde", "-u*u_x"], "pde", "-u*u_x"),
    (["pde", "--ic", "-sin(pi*x)"], "ic", "-sin(pi*x)"),
    (["pde", "--domain", "-8,8"], "domain", (-8.0, 8.0)),
    (["pde", "--bc-values", "-1,1"], "bc_values", (-1.0, 1.0)),
]


@pytest.mark.parametrize("argv, attr, value", DASH_VALUES, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else None)
def test_every_dash_value_option_reads_a_leading_minus(argv, attr, value):
    """argparse alone fails on these with "expected one argument"; the parser of every command
    joins them, with or without ``main``."""
    from physdistill.cli import DASH_VALUE_OPTIONS, build_parser

    assert argv[1] in DASH_VALUE_OPTIONS
    assert getattr(build_parser().parse_args(argv), attr) == value
    assert getattr(build_parser().parse_args([argv[0], f"{argv[1]}={argv[2]}"]), attr) == value


def test_dash_value_options_are_the_value_options_of_the_commands():
    """Every listed option exists in some command and takes one value, so none is misspelt."""
    from physdistill.cli import DASH_VALUE_OPTIONS, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    takes_one = {s for p in sub.choices.values() for a in p._actions if a.nargs is None
                 for s in a.option_strings}
    assert set(DASH_VALUE_OPTIONS) <= takes_one


@pytest.mark.parametrize("exc, fragment", [
    (RuntimeError("cannot reshape tensor of 0 elements"), "unexpected RuntimeError"),
    (OSError(28, "No space left on device", "/x/checkpoint.safetensors"),
     "no space left on the device writing /x/checkpoint.safetensors"),
    (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
    (KeyError("law"), "unexpected KeyError"),
])
def test_any_failure_is_one_line_unless_debug(exc, fragment, monkeypatch, capsys):
    """Issue 20: tracebacks instead of one ``error:`` line; ``--debug`` shows them."""
    from physdistill.nbody import cli as nbody_cli

    def fail(args):
        raise exc

    monkeypatch.setattr(nbody_cli, "run_simulate", fail)
    assert main(["simulate", "r2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and fragment in err[0], err
    with pytest.raises(type(exc)):
        main(["simulate", "r2", "--debug"])


def test_deeply_nested_json_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("[" * 100_000 + "]" * 100_000)
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run.json is nested too deeply" in err[0], err


def _tmpfs(path):
    """Mount a 3 MB tmpfs at ``path`` (root and a kernel that allows it), or skip."""
    path.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(path)],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot run mount here ({exc}); the full-disk test needs a 3 MB tmpfs")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()[:120]}); the full-disk "
                    "test needs one")


def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(tmp_path, capsys):
    disk = tmp_path / "disk"
    _tmpfs(disk)
    try:
        with open(disk / "filler", "wb") as fh:  # fill the 3 MB
            try:
                while True:
                    fh.write(b"\0" * 65536)
                    fh.flush()
            except OSError:
                pass
        assert main(["simulate", "spring", "--sims", "6", "--steps", "20", "--out",
                     str(disk / "d"), "--quiet", "--device", "cpu"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "no space left on the device" in err[0], err
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]
    finally:
        subprocess.run(["umount", str(disk)], check=False)
