r"""Surrogates of a BERT MLP block in PCA subspaces, their distillation, and the switch.

A surrogate replaces :math:`f(h) = W_2\,\mathrm{gelu}(W_1 h + b_1) + b_2` of one block by

.. math::
    z = \mathrm{clip}\big(P_i^T (h - \mu_i),\ z_{lo}, z_{hi}\big), \qquad
    \hat f(h) = \mu_o + P_o\, g(z),

with :math:`P_i` (``d x k_in``) and :math:`P_o` (``d x k_out``) the PCA bases of the block's
recorded inputs and outputs, and ``g`` one of three maps (``kind``):

- ``"equations"``: :math:`g(z) = A^T z + e(z)`, the least-squares linear map plus one
  closed-form equation per output component, found by symbolic regression on the residual
  :math:`P_o^T (f(h) - \mu_o) - A^T z` (distilled with
  :class:`~physdistill.symbolic.SymbolicModel`);
- ``"linear"`` (control): :math:`g(z) = A^T z`;
- ``"pca_mlp"`` (control): :math:`g(z) = P_o^T (f(\mu_i + P_i z) - \mu_o)`, the original
  MLP between the two projections.

The clip to the recorded range of each input component (``z_lo, z_hi``, widened by
:data:`CLIP_MARGIN`) keeps a polynomial
equation from running away on a token unlike any recorded one.

:class:`BlockSwitch` installs surrogates in the model (``intermediate`` becomes the surrogate,
``output.dense`` the identity, so the block's residual and LayerNorm stay) and restores the
original modules. :func:`save_surrogates` / :func:`load_surrogates` store them in one
safetensors file with the equations as JSON trees (no pickle).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from physdistill.errors import PhysDistillError
from physdistill.symbolic import Expression, SRConfig, SymbolicModel
from physdistill.transformer.capture import PCA, BlockRecord, block_pcas, linear_map, mlp_blocks

KINDS = ("equations", "linear", "pca_mlp")
FORMAT = "physdistill.transformer.surrogates"
FORMAT_VERSION = 1
#: symbolic-regression operators: polynomial forms only, so no equation has a pole
DEFAULT_OPERATORS = ("+", "-", "*", "square")
#: the clip range is the sampled tokens' range widened by this fraction of it on each side (the
#: sample is a subset: unclipped tokens of the corpus may lie slightly outside it)
CLIP_MARGIN = 0.1


def z_names(k: int) -> list[str]:
    return [f"z{i}" for i in range(k)]


class EquationBank(nn.Module):
    """Evaluate ``k_out`` equations of ``z0..z{k_in-1}`` at once: ``(N, k_in) -> (N, k_out)``.

    Components without an equation give 0. Each equation is a
    :class:`~physdistill.symbolic.TorchExpression` (constants as buffers, so the bank moves
    with the model's device); the columns of ``z`` are sliced once and shared.
    """

    def __init__(self, equations: Mapping[int, Expression], k_in: int, k_out: int):
        super().__init__()
        self.k_in, self.k_out = k_in, k_out
        self.dims = sorted(equations)
        names = set(z_names(k_in))
        for d, e in equations.items():
            extra = sorted(set(e.variables) - names)
            if extra or not 0 <= d < k_out:
                raise PhysDistillError(f"equation {d} ({e}) uses {extra} or its index is "
                                       f"outside 0..{k_out - 1}")
        self.expressions = {d: equations[d] for d in self.dims}
        self.terms = nn.ModuleList([equations[d].torch() for d in self.dims])
        self.used = sorted({int(v[1:]) for e in equations.values() for v in e.variables})

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = z.new_zeros(z.shape[0], self.k_out)
        env = {f"z{i}": z[:, i] for i in self.used}
        for d, term in zip(self.dims, self.terms):
            out[:, d] = term(env) if term.variables else term(z[:, :1]).expand(z.shape[0])
        return out


class BlockSurrogate(nn.Module):
    """``h (*, d) -> f_hat (*, d)`` for one block (see the module docstring).

    Args:
        pin, pout: the PCA bases of the block's inputs and outputs.
        kind: ``"equations"``, ``"linear"`` or ``"pca_mlp"``.
        A: the linear map ``(k_in, k_out)`` (``"equations"``, ``"linear"``).
        z_range: ``(lo, hi)``, each ``(k_in,)``, the recorded range of ``z``.
        equations: ``{component: Expression}`` of the residual (``"equations"``).
        mlp: ``(intermediate, output.dense)`` of the block (``"pca_mlp"``).
    """

    def __init__(self, pin: PCA, pout: PCA, kind: str, *, A: torch.Tensor | None = None,
                 z_range: tuple[torch.Tensor, torch.Tensor] | None = None,
                 equations: Mapping[int, Expression] | None = None,
                 mlp: tuple[nn.Module, nn.Module] | None = None):
        super().__init__()
        if kind not in KINDS:
            raise PhysDistillError(f"surrogate kind {kind!r} is unknown; expected one of "
                                   f"{KINDS}")
        if kind != "pca_mlp" and A is None:
            raise PhysDistillError(f"a {kind!r} surrogate needs the linear map A")
        if kind == "pca_mlp" and mlp is None:
            raise PhysDistillError("a 'pca_mlp' surrogate needs the block's (intermediate, "
                                   "output.dense) modules")
        self.kind = kind
        self.k_in, self.k_out = pin.k, pout.k
        self.pin_explained, self.pout_explained = pin.explained, pout.explained
        f32 = torch.float32
        self.register_buffer("in_mean", pin.mean.to(f32))
        self.register_buffer("in_basis", pin.components.to(f32))
        self.register_buffer("out_mean", pout.mean.to(f32))
        self.register_buffer("out_basis_t", pout.components.T.contiguous().to(f32))
        self.register_buffer("in_shift", (pin.mean @ pin.components).to(f32))
        lo, hi = z_range if z_range is not None else (torch.full((pin.k,), -torch.inf),
                                                      torch.full((pin.k,), torch.inf))
        self.register_buffer("z_lo", lo.to(f32))
        self.register_buffer("z_hi", hi.to(f32))
        self.register_buffer("A", (A if A is not None else torch.zeros(pin.k, pout.k)).to(f32))
        self.bank = EquationBank(equations or {}, pin.k, pout.k) if kind == "equations" \
            else None
        self._mlp = mlp  # not a submodule: the original modules stay the model's own

    @property
    def equations(self) -> dict[int, Expression]:
        return dict(self.bank.expressions) if self.bank is not None else {}

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        lead = h.shape[:-1]
        x = h.reshape(-1, h.shape[-1])
        z = torch.addmm(-self.in_shift, x, self.in_basis)
        z = torch.maximum(torch.minimum(z, self.z_hi), self.z_lo)
        if self.kind == "pca_mlp":
            inter, dense = self._mlp
            xr = torch.addmm(self.in_mean, z, self.in_basis.T)
            y = (dense(inter(xr)) - self.out_mean) @ self.out_basis_t.T
        else:
            y = z @ self.A
            if self.bank is not None and self.bank.dims:
                y = y + self.bank(z)
        return torch.addmm(self.out_mean, y, self.out_basis_t).reshape(*lead, -1)


class ProjectedMLP(nn.Module):
    r"""What the equations are distilled from: the block's MLP seen through the PCA bases,
    less the linear map, :math:`r(h) = P_o^T (f(h) - \mu_o) - A^T z`.

    ``forward(z, h)`` takes ``z = P_i^T (h - \mu_i)`` as well as ``h`` so that a recording of
    the calls holds the regression's features (``z``) beside the true block input.
    """

    def __init__(self, intermediate: nn.Module, dense: nn.Module, pout: PCA, A: torch.Tensor):
        super().__init__()
        self.intermediate, self.dense = intermediate, dense
        self.register_buffer("out_mean", pout.mean.float())
        self.register_buffer("out_basis", pout.components.float())
        self.register_buffer("A", A.float())

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        f = self.dense(self.intermediate(h))
        return (f - self.out_mean) @ self.out_basis - z @ self.A


@dataclass(frozen=True)
class DistillConfig:
    """How each block's equations are searched.

    Args:
        sr: the search budget of one output component (pyoperon by default).
        max_samples: token rows the regression sees (drawn from the recorded sample).
        holdout: fraction of the recorded rows held out to check each equation.
        rule: the selection rule on each front (``"best"``, ``"accuracy"``, ...).
        min_gain: an equation is kept only if it lowers the held-out residual's mean squared
            error by at least this fraction (else the component stays linear).
    """

    sr: SRConfig = field(default_factory=lambda: SRConfig(
        operators=DEFAULT_OPERATORS, max_length=15, population_size=200, generations=100,
        max_evaluations=40_000, time_limit_s=6.0, max_samples=2000, n_threads=1))
    max_samples: int = 3000
    holdout: float = 0.25
    rule: str = "best"
    min_gain: float = 0.01


@dataclass
class Distilled:
    """The equations of one block and how they did.

    Attributes:
        equations: ``{component: Expression}`` kept.
        fronts: ``{component: ParetoFront}`` (every front, kept or not).
        gain: ``{component: held-out fraction of the residual MSE removed}``.
        r2_linear, r2_equations: held-out R^2 of the projected output, per component.
    """

    equations: dict[int, Expression]
    fronts: dict[int, Any]
    gain: dict[int, float]
    r2_linear: list[float]
    r2_equations: list[float]


def _r2(y: np.ndarray, pred: np.ndarray) -> list[float]:
    var = y.var(0)
    mse = ((y - pred) ** 2).mean(0)
    return [float(1 - m / v) if v > 0 else 1.0 for m, v in zip(mse, var)]


def distill_block(record: BlockRecord, layer: nn.Module, pin: PCA, pout: PCA, A: torch.Tensor,
                  config: DistillConfig | None = None, seed: int = 0) -> Distilled:
    """Fit one equation per output component of a block's residual (see
    :class:`ProjectedMLP`) with :class:`~physdistill.symbolic.SymbolicModel`.

    The recorded token rows are split (seeded): ``1 - holdout`` of them are recorded through
    the wrapper and distilled, the rest check each equation.
    """
    cfg = config or DistillConfig()
    if not 0 < cfg.holdout < 1:
        raise PhysDistillError(f"DistillConfig.holdout must be in (0, 1), got {cfg.holdout}")
    H = torch.as_tensor(record.inputs, dtype=torch.float32)
    rng = np.random.default_rng(seed + record.block)
    order = rng.permutation(len(H))
    n_test = max(1, int(round(cfg.holdout * len(H))))
    test, train = order[:n_test], order[n_test:][: cfg.max_samples]
    if len(train) < 20:
        raise PhysDistillError(f"block {record.block}: only {len(train)} recorded token rows to "
                               "distil from; record more sentences")
    device = next(layer.parameters()).device
    proj = ProjectedMLP(layer.intermediate, layer.output.dense, pout, A).to(device)
    names = z_names(pin.k)
    sm = SymbolicModel(proj, input_names=names + [f"h{i}" for i in range(H.shape[1])],
                       output_names=[f"y{j}" for j in range(pout.k)], features=names,
                       config=cfg.sr.replace(seed=seed + 100 * record.block),
                       max_samples=len(train), rule=cfg.rule, seed=seed)
    with torch.inference_mode():
        Ht, Hv = H[train].to(device), H[test].to(device)
        Zt, Zv = pin.encode(Ht.double()).float(), pin.encode(Hv.double()).float()
        with sm.capture():
            proj(Zt, Ht)
        target = proj(Zv, Hv).double().cpu().numpy()
    sm.distill().switch_to_symbolic(rule=cfg.rule)
    Zv_np = Zv.double().cpu().numpy()
    env = {n: Zv_np[:, i] for i, n in enumerate(names)}
    kept: dict[int, Expression] = {}
    gain: dict[int, float] = {}
    pred = np.zeros_like(target)
    for d, expr in sm.equations_.items():
        e = np.asarray(expr.evaluate(env), dtype=np.float64) * np.ones(len(target))
        base = float((target[:, d] ** 2).mean())
        new = float(((target[:, d] - e) ** 2).mean()) if np.all(np.isfinite(e)) else np.inf
        gain[d] = 1 - new / base if base > 0 else 0.0
        if gain[d] >= cfg.min_gain:
            kept[d] = expr
            pred[:, d] = e
    lin = (Zv_np @ A.double().numpy())
    y = target + lin
    return Distilled(kept, dict(sm.fronts_), gain, _r2(y, lin), _r2(y, lin + pred))


def build_surrogate(record: BlockRecord, layer: nn.Module, k_in: int, k_out: int, kind: str,
                    config: DistillConfig | None = None, seed: int = 0,
                    pcas: tuple[PCA, PCA] | None = None
                    ) -> tuple[BlockSurrogate, Distilled | None]:
    """PCA bases, linear map and (for ``"equations"``) the distilled equations of one block."""
    pin, pout = pcas or block_pcas(record, k_in, k_out)
    A = linear_map(record, pin, pout)
    Z = pin.encode(torch.as_tensor(record.inputs))
    lo, hi = Z.min(0).values, Z.max(0).values
    z_range = (lo - CLIP_MARGIN * (hi - lo), hi + CLIP_MARGIN * (hi - lo))
    distilled = None
    equations = None
    if kind == "equations":
        distilled = distill_block(record, layer, pin, pout, A, config, seed)
        equations = distilled.equations
    mlp = (layer.intermediate, layer.output.dense) if kind == "pca_mlp" else None
    s = BlockSurrogate(pin, pout, kind, A=A, z_range=z_range, equations=equations, mlp=mlp)
    return s.to(next(layer.parameters()).device), distilled


class BlockSwitch:
    """Put surrogates in place of a model's MLP blocks, and take them out again.

    ``switch({block: surrogate})`` sets ``layer.intermediate = surrogate`` and
    ``layer.output.dense = Identity`` (the layer then computes ``LayerNorm(f_hat(h) + h)``);
    :meth:`restore` puts the original modules back, unchanged (they are kept here, not
    copied). ``with switch.switched(surrogates):`` restores on exit, even after an error.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.layers = mlp_blocks(model)
        self._originals: dict[int, tuple[nn.Module, nn.Module]] = {}

    @property
    def active(self) -> list[int]:
        return sorted(self._originals)

    def switch(self, surrogates: Mapping[int, BlockSurrogate]) -> BlockSwitch:
        for b, s in surrogates.items():
            if isinstance(b, bool) or not isinstance(b, int) or not 0 <= b < len(self.layers):
                raise PhysDistillError(f"block {b!r} does not exist; the model has blocks "
                                       f"0..{len(self.layers) - 1}")
            if not isinstance(s, BlockSurrogate):
                raise PhysDistillError(f"block {b}: expected a BlockSurrogate, got "
                                       f"{type(s).__name__}")
        for b, s in surrogates.items():
            layer = self.layers[b]
            if b not in self._originals:
                self._originals[b] = (layer.intermediate, layer.output.dense)
            device = next(self._originals[b][0].parameters()).device
            layer.intermediate = s.to(device)
            layer.output.dense = nn.Identity()
        return self

    def restore(self, blocks: list[int] | None = None) -> BlockSwitch:
        for b in list(self._originals) if blocks is None else blocks:
            if b in self._originals:
                inter, dense = self._originals.pop(b)
                self.layers[b].intermediate = inter
                self.layers[b].output.dense = dense
        return self

    @contextlib.contextmanager
    def switched(self, surrogates: Mapping[int, BlockSurrogate]) -> Iterator[BlockSwitch]:
        self.switch(surrogates)
        try:
            yield self
        finally:
            self.restore(list(surrogates))


# --- save / load -----------------------------------------------------------------------------

_TENSORS = ("in_mean", "in_basis", "out_mean", "out_basis_t", "z_lo", "z_hi", "A")


def save_surrogates(path: str | os.PathLike, surrogates: Mapping[int, BlockSurrogate],
                    meta: Mapping[str, Any] | None = None) -> None:
    """Write ``{block: surrogate}`` to one safetensors file (tensors) with JSON metadata (kind,
    sizes, equations as expression trees). ``"pca_mlp"`` controls hold the model's own MLP and
    are not saved."""
    from physdistill._io import save_state

    blocks = {}
    for b, s in surrogates.items():
        if s.kind == "pca_mlp":
            raise PhysDistillError(f"block {b} is a 'pca_mlp' control (it runs the model's own "
                                   "MLP); save only 'equations' or 'linear' surrogates")
        blocks[str(b)] = {"kind": s.kind, "k_in": s.k_in, "k_out": s.k_out,
                          "explained": [s.pin_explained, s.pout_explained],
                          "tensors": {k: getattr(s, k).detach().cpu() for k in _TENSORS},
                          "equations": {str(d): e.to_dict() for d, e in s.equations.items()}}
    save_state(path, {"format": FORMAT, "version": FORMAT_VERSION, "blocks": blocks,
                      "meta": dict(meta or {})})


def load_surrogates(path: str | os.PathLike, device: Any = "cpu"
                    ) -> tuple[dict[int, BlockSurrogate], dict[str, Any]]:
    """Read what :func:`save_surrogates` wrote: ``({block: surrogate}, meta)``.

    Raises:
        PhysDistillError: not such a file, another format version, or a corrupt entry.
    """
    from physdistill._io import load_state

    state = load_state(path)
    if state.get("format") != FORMAT or state.get("version") != FORMAT_VERSION:
        raise PhysDistillError(f"{path} is not a physdistill transformer-surrogate file "
                               f"(format {state.get('format')!r} version "
                               f"{state.get('version')!r}, expected {FORMAT!r} "
                               f"{FORMAT_VERSION})")
    out = {}
    try:
        for key, rec in state["blocks"].items():
            t = rec["tensors"]
            k_in, k_out = int(rec["k_in"]), int(rec["k_out"])
            d = t["in_mean"].shape[0]
            want = {"in_mean": (d,), "in_basis": (d, k_in), "out_mean": (d,),
                    "out_basis_t": (k_out, d), "z_lo": (k_in,), "z_hi": (k_in,),
                    "A": (k_in, k_out)}
            for name, shape in want.items():
                if tuple(t[name].shape) != shape:
                    raise PhysDistillError(f"{path}: block {key} tensor {name} has shape "
                                           f"{tuple(t[name].shape)}, expected {shape}")
            ex_in, ex_out = rec["explained"]
            pin = PCA(t["in_mean"].double(), t["in_basis"].double(), torch.zeros(k_in), ex_in)
            pout = PCA(t["out_mean"].double(), t["out_basis_t"].T.double(), torch.zeros(k_out),
                       ex_out)
            eqs = {int(k): Expression.from_dict(v) for k, v in rec["equations"].items()}
            s = BlockSurrogate(pin, pout, rec["kind"], A=t["A"], z_range=(t["z_lo"], t["z_hi"]),
                               equations=eqs)
            out[int(key)] = s.to(device)
    except PhysDistillError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PhysDistillError(f"{path} is corrupt ({type(exc).__name__}: {exc})") from None
    return out, dict(state.get("meta", {}))
