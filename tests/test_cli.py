"""The command line: help, version, one-line errors with exit status 2, a small simulate run."""

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
