"""The case study in one call: record, fit, distil, switch, measure, over a trade-off grid.

:func:`run_study` takes a loaded encoder and a corpus and returns everything measured, as plain
data, plus the surrogates of the headline configuration; :func:`run_transformer` does the same
into a run folder (:class:`~physdistill.runs.RunFolder`: metrics, surrogates, plot, report).

Steps:

1. tokenise the fitting and held-out sentences; embed the held-out ones with the original
   model;
2. record every MLP block on the fitting sentences (:func:`~.capture.record_blocks`);
3. order the blocks: as given, or by harm, least first: each block alone is replaced by its
   linear surrogate at the first PCA size and the mean cosine is measured on fitting
   sentences (never on the held-out ones);
4. for each PCA size and each of the first ``max_blocks`` blocks of that order, build the
   three surrogates (equations, linear, PCA with the MLP);
5. for ``n = 1..max_blocks`` blocks replaced, measure every variant's fidelity on the held-out
   sentences and the hybrid's speed beside the original's;
6. choose the headline: the fastest hybrid whose mean cosine meets the target, else the
   most faithful one-block hybrid; time it side by side with both controls.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from physdistill.errors import PhysDistillError
from physdistill.transformer.bench import fidelity, neighbours, time_variants
from physdistill.transformer.capture import check_blocks, mlp_blocks, record_blocks
from physdistill.transformer.corpus import Corpus, load_corpus
from physdistill.transformer.encoder import SentenceEncoder
from physdistill.transformer.loading import LoadedModel
from physdistill.transformer.surrogate import (
    BlockSurrogate,
    BlockSwitch,
    DistillConfig,
    build_surrogate,
)

VARIANTS = ("equations", "linear", "pca_mlp")


@dataclass(frozen=True)
class TransformerConfig:
    """Settings of one study (every default runs on a 2-core laptop in minutes).

    Args:
        blocks: the blocks to replace, in the order they are added (``None``: ranked by harm,
            see the module docstring).
        sizes: PCA sizes ``(k_in, k_out)`` on the curve.
        max_blocks: the curve replaces 1..``max_blocks`` blocks.
        n_fit, n_eval: fitting and held-out sentences.
        batch_size, max_length: batches of the forward passes; tokens per sentence at most.
        max_tokens: token rows kept per block for the regression.
        rank_sentences: fitting sentences used to rank the blocks.
        time_sentences: held-out sentences timed per variant (the first ones).
        rounds: timed rounds per variant.
        target_speedup, target_cosine: the goal (throughput gain, mean cosine).
        k_neighbours: neighbours compared in the retrieval agreement.
        distill: the equation search (:class:`~.surrogate.DistillConfig`).
        device: ``auto``, ``cpu`` or ``cuda[:N]``.
        threads: torch CPU threads for the forward passes (``None``: torch's default).
        seed: corpus shuffle, token sample and search seeds.
    """

    blocks: tuple[int, ...] | None = None
    sizes: tuple[tuple[int, int], ...] = ((32, 8), (64, 16), (128, 32))
    max_blocks: int = 3
    n_fit: int = 1500
    n_eval: int = 500
    batch_size: int = 32
    max_length: int = 128
    max_tokens: int = 6000
    rank_sentences: int = 256
    time_sentences: int = 256
    rounds: int = 3
    target_speedup: float = 0.10
    target_cosine: float = 0.95
    k_neighbours: int = 10
    distill: DistillConfig = field(default_factory=DistillConfig)
    device: str = "auto"
    threads: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        sizes = tuple(tuple(int(v) for v in s) for s in self.sizes)
        if not sizes or any(len(s) != 2 or s[0] < 1 or s[1] < 1 for s in sizes):
            raise PhysDistillError(f"sizes must be (k_in, k_out) pairs of positive integers, "
                                   f"got {self.sizes!r}")
        object.__setattr__(self, "sizes", sizes)
        for name in ("max_blocks", "n_fit", "n_eval", "batch_size", "max_tokens",
                     "rank_sentences", "time_sentences", "rounds", "k_neighbours"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise PhysDistillError(f"TransformerConfig.{name} must be a positive integer, "
                                       f"got {v!r}")
        if self.n_eval <= self.k_neighbours:
            raise PhysDistillError(f"n_eval ({self.n_eval}) must exceed k_neighbours "
                                   f"({self.k_neighbours})")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["distill"]["sr"] = self.distill.sr.to_dict()
        return d


def _device(name: str) -> torch.device:
    from physdistill.devices import resolve_device

    return resolve_device(name)


def hardware() -> dict[str, Any]:
    """What the timings ran on."""
    info = {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version()}
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def _switching(switch: BlockSwitch, surrogates: dict[int, BlockSurrogate]) -> Callable:
    """A context-manager factory that puts ``surrogates`` in (for :func:`time_variants`)."""
    return lambda: switch.switched(surrogates)


def _rank_blocks(encoder: SentenceEncoder, switch: BlockSwitch, records: dict, rank_batches,
                 size: tuple[int, int], config: TransformerConfig, log) -> list[dict[str, Any]]:
    base = encoder.embed(rank_batches)
    out = []
    for b in sorted(records):
        s, _ = build_surrogate(records[b], switch.layers[b], *size, "linear")
        with switch.switched({b: s}):
            cos = fidelity(base, encoder.embed(rank_batches), min(config.k_neighbours,
                                                                 len(base) - 1)).mean_cosine
        out.append({"block": b, "mean_cosine": cos})
        log(f"  block {b} alone, linear {size[0]}x{size[1]}: mean cosine {cos:.4f} (fitting "
            "sentences)")
    return sorted(out, key=lambda r: -r["mean_cosine"])


def run_study(loaded: LoadedModel, config: TransformerConfig | None = None,
              corpus: Corpus | None = None, log: Callable[[str], None] = print
              ) -> tuple[dict[str, Any], dict[int, BlockSurrogate], dict[int, Any]]:
    """Run the study (module docstring) and return ``(metrics, headline surrogates,
    headline distillation records)``. The model is left as it was (every switch is undone)."""
    cfg = config or TransformerConfig()
    device = _device(cfg.device)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    model = loaded.model.to(device).eval()
    n_layers = len(mlp_blocks(model))
    order = check_blocks(list(cfg.blocks), n_layers) if cfg.blocks is not None else None
    corpus = corpus or load_corpus(cfg.n_fit, cfg.n_eval, cfg.seed)
    encoder = SentenceEncoder(model, loaded.tokenizer, cfg.max_length, device)
    switch = BlockSwitch(model)
    fit_batches = encoder.batches(list(corpus.fit), cfg.batch_size)
    eval_batches = encoder.batches(list(corpus.eval), cfg.batch_size)
    n_time = max(1, -(-min(cfg.time_sentences, len(corpus.eval)) // cfg.batch_size))
    time_batches = eval_batches[:n_time]
    log(f"corpus: {len(corpus.fit)} fitting + {len(corpus.eval)} held-out sentences of "
        f"{corpus.name}")
    base = encoder.embed(eval_batches)
    base_nn = neighbours(base, cfg.k_neighbours)
    log(f"recording {n_layers} MLP blocks on the fitting sentences")
    records = record_blocks(encoder, fit_batches, range(n_layers) if order is None else order,
                            cfg.max_tokens, cfg.seed)
    ranking = None
    if order is None:
        n_rank = max(1, -(-min(cfg.rank_sentences, len(corpus.fit)) // cfg.batch_size))
        ranking = _rank_blocks(encoder, switch, records, fit_batches[:n_rank], cfg.sizes[0],
                               cfg, log)
        order = [r["block"] for r in ranking]
    order = order[: cfg.max_blocks]
    surrogates: dict[tuple, BlockSurrogate] = {}
    distilled: dict[tuple, Any] = {}
    for size in cfg.sizes:
        for b in order:
            for kind in VARIANTS:
                s, d = build_surrogate(records[b], switch.layers[b], *size, kind, cfg.distill,
                                       cfg.seed)
                surrogates[(size, b, kind)] = s
                if d is not None:
                    distilled[(size, b)] = d
            d = distilled[(size, b)]
            log(f"  block {b} {size[0]}x{size[1]}: {len(d.equations)}/{size[1]} equations "
                f"kept, held-out R2 linear {sum(d.r2_linear) / len(d.r2_linear):.3f} -> "
                f"with equations {sum(d.r2_equations) / len(d.r2_equations):.3f}")

    def hybrid(size, n, kind):
        return {b: surrogates[(size, b, kind)] for b in order[:n]}

    curve = []
    variants: dict[str, Callable] = {"original": contextlib.nullcontext}
    for size in cfg.sizes:
        for n in range(1, len(order) + 1):
            entry = {"k_in": size[0], "k_out": size[1], "n_blocks": n, "blocks": order[:n]}
            for kind in VARIANTS:
                with switch.switched(hybrid(size, n, kind)):
                    entry[kind] = fidelity(base, encoder.embed(eval_batches),
                                           cfg.k_neighbours, base_nn).to_dict()
            curve.append(entry)
            variants[f"{size[0]}x{size[1]}/{n}"] = _switching(switch, hybrid(size, n,
                                                                              "equations"))
            log(f"  {n} block(s) {size[0]}x{size[1]}: mean cosine equations "
                f"{entry['equations']['mean_cosine']:.4f}, linear "
                f"{entry['linear']['mean_cosine']:.4f}, PCA+MLP "
                f"{entry['pca_mlp']['mean_cosine']:.4f}")
    log(f"timing {len(variants)} variants on {sum(b.size for b in time_batches)} sentences")
    timings = time_variants(encoder, time_batches, variants, cfg.rounds)
    t0 = timings["original"].sentences_per_s
    c0 = timings["original"].cpu_sentences_per_s
    for e in curve:
        t = timings[f"{e['k_in']}x{e['k_out']}/{e['n_blocks']}"]
        e["timing"] = t.to_dict()
        e["speedup"] = t.sentences_per_s / t0 - 1
        e["cpu_speedup"] = t.cpu_sentences_per_s / c0 - 1
    ok = [e for e in curve if e["equations"]["mean_cosine"] >= cfg.target_cosine]
    met = [e for e in ok if e["speedup"] >= cfg.target_speedup]
    if ok:
        head = max(ok, key=lambda e: (e["speedup"], e["equations"]["mean_cosine"]))
    else:
        head = max((e for e in curve if e["n_blocks"] == 1),
                   key=lambda e: e["equations"]["mean_cosine"])
    size = (head["k_in"], head["k_out"])
    n = head["n_blocks"]
    side = {"original": contextlib.nullcontext,
            **{k: _switching(switch, hybrid(size, n, k)) for k in VARIANTS}}
    log(f"headline: {n} block(s) {order[:n]} at {size[0]}x{size[1]}; timing it beside the "
        "controls")
    side_t = time_variants(encoder, time_batches, side, cfg.rounds)
    o = side_t["original"].sentences_per_s
    oc = side_t["original"].cpu_sentences_per_s
    table = {}
    for k in ("original", *VARIANTS):
        row = {"timing": side_t[k].to_dict(), "speedup": side_t[k].sentences_per_s / o - 1,
               "cpu_speedup": side_t[k].cpu_sentences_per_s / oc - 1}
        row["fidelity"] = (fidelity(base, base, cfg.k_neighbours, base_nn).to_dict()
                           if k == "original" else head[k])
        table[k] = row
    heads = {b: distilled[(size, b)] for b in order[:n]}
    metrics = {
        "model": loaded.name, "model_source": loaded.source,
        "corpus": {"name": corpus.name, "digest": corpus.digest, "n_fit": len(corpus.fit),
                   "n_eval": len(corpus.eval)},
        "config": cfg.to_dict(), "device": str(device), "hardware": hardware(),
        "n_layers": n_layers, "order": order, "ranking": ranking, "curve": curve,
        "headline": {"k_in": size[0], "k_out": size[1], "n_blocks": n, "blocks": order[:n],
                     "meets_cosine": bool(ok),
                     "meets_target": bool(ok) and table["equations"]["speedup"]
                     >= cfg.target_speedup, "curve_meets_target": bool(met), "table": table},
        "equations": {str(b): {"gain": {str(k): v for k, v in d.gain.items()},
                               "r2_linear": d.r2_linear, "r2_equations": d.r2_equations,
                               "latex": {str(k): e.latex() for k, e in d.equations.items()},
                               "text": {str(k): e.text() for k, e in d.equations.items()}}
                      for b, d in heads.items()},
        "explained": {f"{s[0]}x{s[1]}/{b}": [surrogates[(s, b, "linear")].pin_explained,
                                             surrogates[(s, b, "linear")].pout_explained]
                      for s in cfg.sizes for b in order},
    }
    return metrics, hybrid(size, n, "equations"), heads


def run_transformer(out: str | Path, config: TransformerConfig | None = None, *,
                    loaded: LoadedModel | None = None, corpus: Corpus | None = None,
                    force: bool = False, cache: str | Path | None = None,
                    log: Callable[[str], None] = print) -> dict[str, Any]:
    """:func:`run_study` into the run folder ``out``: ``metrics.json``, ``surrogates.safetensors``
    (the headline hybrid's surrogates and equations), ``tradeoff.png`` and ``report.md``."""
    from physdistill.runs import RunFolder
    from physdistill.transformer.loading import load_packaged
    from physdistill.transformer.report import write_report
    from physdistill.transformer.surrogate import save_surrogates

    cfg = config or TransformerConfig()
    with RunFolder(out, "transformer", force=force, config=cfg.to_dict()) as run:
        with run.stage("study") as info:
            if loaded is None:
                loaded = load_packaged(_device(cfg.device), cache)
            metrics, hybrid, _ = run_study(loaded, cfg, corpus, log)
            info["headline"] = {k: metrics["headline"][k] for k in ("k_in", "k_out", "blocks")}
        save_surrogates(run.file("surrogates.safetensors"), hybrid,
                        {"model": metrics["model"], "blocks": metrics["headline"]["blocks"]})
        run.write_json("metrics.json", metrics)
        with run.stage("report"):
            write_report(run, metrics)
    log(f"wrote {Path(out) / 'report.md'}")
    return metrics
