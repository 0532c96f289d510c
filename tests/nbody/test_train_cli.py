"""``physdistill train``: a tiny run writes its files; reruns, resume, --force and bad input."""

import json

import pytest
import torch

from physdistill.cli import main
from physdistill.nbody.cli import REG_NAMES
from physdistill.nbody.dataset import make_dataset
from physdistill.nbody.laws import get_law
from physdistill.nbody.model import VARIANTS
from physdistill.nbody.simulate import SimConfig
from physdistill.nbody.train import load_checkpoint


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("ds") / "spring"
    make_dataset(get_law("spring"), SimConfig(sims=20, steps=50, keep_every=5, seed=1), path,
                 progress=False)
    return path


def _train(dataset, out, *extra):
    return main(["train", str(dataset), "--reg", "l1", "--epochs", "2", "--batch", "16",
                 "--hidden", "16", "--out", str(out), "--device", "cpu", "--quiet", *extra])


def test_parser_lists_the_built_in_variants():
    assert REG_NAMES == VARIANTS


def test_train_writes_a_run_folder(dataset, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(dataset, out) == 0
    assert "trained the l1 OGN for 2 epochs" in capsys.readouterr().out
    names = {p.name for p in out.iterdir()}
    assert {"checkpoint.safetensors", "checkpoint.json", "history.json", "config.json",
            "run.json"} <= names
    assert not any(name.endswith((".pt", ".pth", ".pkl")) for name in names)
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [1, 2] and all(v > 0 for v in history["val"])
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["variant"] == "l1" and config["model"]["hidden"] == 16
    assert config["train"]["epochs"] == 2 and config["dataset"] == str(dataset.resolve())
    assert config["train"]["tf32"] is False  # --tf32 is recorded as a recipe setting
    assert json.loads((out / "run.json").read_text())["stages"]["train"]["device"] == "cpu"
    model, meta = load_checkpoint(out)
    assert model.config.variant == "l1" and meta["epoch"] == 2

    # an existing folder is kept unless --force; --resume with other settings is refused
    before = (out / "checkpoint.safetensors").read_bytes()
    assert _train(dataset, out) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["train", str(dataset), "--reg", "l1", "--epochs", "3", "--batch", "16",
                 "--hidden", "16", "--out", str(out), "--device", "cpu", "--quiet",
                 "--resume"]) == 2
    assert "settings differ" in capsys.readouterr().err
    assert (out / "checkpoint.safetensors").read_bytes() == before
    # resuming a finished run changes nothing; --force starts over (same seed: same weights)
    assert _train(dataset, out, "--resume") == 0
    assert (out / "checkpoint.safetensors").read_bytes() == before
    assert _train(dataset, out, "--force") == 0
    assert load_checkpoint(out)[1]["epoch"] == 2
    again = load_checkpoint(out)[0].state_dict()
    assert all(torch.equal(again[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("extra, fragment", [
    (["--batch", "0"], "batch must be an integer >= 1"),
    (["--batch", "100000"], "no full batch of 100000"),
    (["--hidden", "-3"], "hidden must be a positive integer"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--resume", "--force"], "give one"),
    (["--resume"], "cannot resume"),
])
def test_errors_are_one_line_and_write_nothing(dataset, tmp_path, capsys, extra, fragment):
    assert _train(dataset, tmp_path / "run", *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and fragment in err[0], err
    assert not (tmp_path / "run").exists()


def test_missing_dataset(tmp_path, capsys):
    assert _train(tmp_path / "nope", tmp_path / "run") == 2
    assert "dataset folder not found" in capsys.readouterr().err


def test_a_dataset_without_validation_systems_trains(tmp_path, capsys):
    """Issue 20: ``simulate --sims 5`` then ``train`` raised "cannot reshape tensor of 0
    elements" (the 5 systems split 4/0/1). It trains without validation now."""
    data, out = tmp_path / "d5", tmp_path / "run"
    assert main(["simulate", "spring", "--sims", "5", "--steps", "20", "--out", str(data),
                 "--quiet", "--device", "cpu"]) == 0
    assert main(["train", str(data), "--epochs", "1", "--batch", "4", "--hidden", "8",
                 "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    assert "val MAE" not in capsys.readouterr().out
    history = json.loads((out / "history.json").read_text())
    assert history["val"] == [None] and len(history["train"]) == 1
