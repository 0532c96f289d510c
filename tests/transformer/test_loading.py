"""Loading the packaged model safely: guarded zip extraction, safetensors-only weights, and one
clear error when the optional extra is missing."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest
import torch

from physdistill.errors import PhysDistillError
from physdistill.transformer import loading
from physdistill.transformer.encoder import SentenceEncoder

from .conftest import sentences


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            if isinstance(data, zipfile.ZipInfo):
                zf.writestr(data, b"target")
            else:
                zf.writestr(name, data)
    return path


def test_safe_extract_writes_plain_members(tmp_path):
    z = _zip(tmp_path / "ok.zip", {"a/config.json": "{}", "b.txt": "hello"})
    out = tmp_path / "out"
    out.mkdir()
    loading.safe_extract(z, out)
    assert (out / "a" / "config.json").read_text() == "{}"
    assert (out / "b.txt").read_text() == "hello"


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "/abs/evil.txt",
                                  "C:/evil.txt", "..\\evil.txt"])
def test_safe_extract_refuses_paths_leaving_the_folder(tmp_path, name):
    z = _zip(tmp_path / "bad.zip", {"fine.txt": "x", name: "pwned"})
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(PhysDistillError, match="outside|refusing"):
        loading.safe_extract(z, out)
    assert not (tmp_path / "evil.txt").exists()
    assert list(out.iterdir()) == []  # every member is checked before anything is written


def test_safe_extract_refuses_links_and_bombs(tmp_path):
    link = zipfile.ZipInfo("link")
    link.external_attr = (0o120777 << 16)
    z = _zip(tmp_path / "link.zip", {"link": link})
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(PhysDistillError, match="link or device"):
        loading.safe_extract(z, out)
    big = _zip(tmp_path / "big.zip", {"x": b"0" * 5000})
    with pytest.raises(PhysDistillError, match="bytes"):
        loading.safe_extract(big, out, max_bytes=1000)
    with pytest.raises(PhysDistillError, match="not a readable zip"):
        loading.safe_extract(tmp_path / "missing.zip", out)


def _save_folder(tiny, folder):
    from safetensors.torch import save_file

    folder.mkdir()
    (folder / "config.json").write_text(tiny.model.config.to_json_string())
    save_file({k: v.contiguous() for k, v in tiny.model.state_dict().items()},
              str(folder / "model.safetensors"))
    tiny.tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 64}))


def test_load_bert_folder_reads_safetensors_and_matches(tiny, tmp_path):
    folder = tmp_path / "m"
    _save_folder(tiny, folder)
    loaded = loading.load_bert_folder(folder)
    s = sentences(6)
    a = SentenceEncoder(tiny.model, tiny.tokenizer)
    b = SentenceEncoder(loaded.model, loaded.tokenizer)
    assert torch.allclose(a.embed(a.batches(s)), b.embed(b.batches(s)), atol=1e-6)
    assert not any(folder.glob("*.bin"))


def test_load_bert_folder_names_what_is_wrong(tiny, tmp_path):
    from safetensors.torch import save_file

    folder = tmp_path / "m"
    _save_folder(tiny, folder)
    state = dict(tiny.model.state_dict())
    del state["encoder.layer.0.output.dense.weight"]
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    with pytest.raises(PhysDistillError, match="lacks the tensor 'encoder.layer.0.output"):
        loading.load_bert_folder(folder)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(PhysDistillError, match="lacks tokenizer.json"):
        loading.load_bert_folder(folder)


def test_missing_extra_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers fails
    with pytest.raises(PhysDistillError, match=r"pip install 'physdistill\[transformer\]'"):
        loading.require("transformers")
    with pytest.raises(PhysDistillError, match=r"pip install 'physdistill\[transformer\]'"):
        loading.load_bert_folder("anywhere")


def test_missing_model_package_is_one_clear_error(monkeypatch):
    import importlib.metadata

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(loading.importlib.metadata, "distribution", missing)
    with pytest.raises(PhysDistillError, match=r"physdistill\[transformer\].*all-minilm"):
        loading.packaged_zip()


def test_cli_without_the_extra_prints_one_error_line(monkeypatch, capsys):
    from physdistill.cli import main

    monkeypatch.setitem(sys.modules, "transformers", None)
    assert main(["transformer", "--out", "unused"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'physdistill[transformer]'" in err[0]


def test_import_physdistill_does_not_import_transformers():
    code = ("import sys, physdistill, physdistill.transformer, physdistill.cli; "
            "physdistill.cli.build_parser(); "
            "print('transformers' in sys.modules, 'all_minilm_l6_v2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]
