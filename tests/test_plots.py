"""The plotting module on synthetic data: non-degenerate axes, stated clipping, SVG beside PNG,
the fit that messages_vs_force draws, binned quantiles."""

from __future__ import annotations

import numpy as np
import pytest

from physdistill import plots


@pytest.fixture
def captured(monkeypatch):
    """Every figure the plot functions save: ``[(file name, figure)]``, drawn but not closed
    until the test ends."""
    figs = []
    real = plots.save_figure

    def keep(fig, path, dpi=120):
        fig.canvas.draw()
        figs.append((path.name if hasattr(path, "name") else str(path), fig))
        out = real(fig, path, dpi=dpi)
        return out

    for module in (plots.series, plots.nbody, plots.fields):  # each figure module's binding
        monkeypatch.setattr(module, "save_figure", keep)
    return figs


def data_axes(fig):
    return [ax for ax in fig.axes if plots.axis_coverage(ax) is not None]


def assert_axes_filled(figs, frac=1 / 3):
    """The data span at least ``frac`` of every data axis of every figure."""
    assert figs
    for name, fig in figs:
        for ax in data_axes(fig):
            cx, cy = plots.axis_coverage(ax)
            assert cx >= frac and cy >= frac, (name, ax.get_title(), cx, cy)


def test_axis_coverage_flags_a_collapsed_cloud():
    """The issue's failure: a few outliers at +-2000 squash the bulk onto a line."""
    plt = plots._plt()
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 5000), [-2000, 1700]])
    y = rng.normal(0, 0.1, x.size)
    fig, ax = plt.subplots()
    ax.scatter(x, y)
    fig.canvas.draw()
    cx, cy = plots.axis_coverage(ax)
    assert cx < 0.05 and cy > 0.5
    ax.set_xlim(-3, 3)  # the same data on a sensible axis
    assert plots.axis_coverage(ax)[0] > 0.6
    cbar_only = fig.add_axes([0.9, 0.1, 0.02, 0.8])
    assert plots.axis_coverage(cbar_only) is None
    image = fig.add_axes([0.1, 0.1, 0.3, 0.3])
    image.imshow(np.eye(3))
    assert min(plots.axis_coverage(image)) > 0.95
    plt.close(fig)


def test_binned_quantiles_match_the_distribution():
    rng = np.random.default_rng(1)
    x = np.exp(rng.uniform(0, np.log(100), 200_000))
    step = (x > 10).astype(float)  # a step at a bin edge: bins below have median 0, above 1
    y = step + rng.normal(0, 0.1, x.size)  # 5-95 % band: median -+ 0.1645
    b = plots.binned_quantiles(x, y, bins=10, log=True)
    assert len(b["x"]) == 10
    np.testing.assert_allclose(np.diff(np.log10(b["x"])), 0.2, rtol=1e-4)  # log-width bins
    np.testing.assert_allclose(b["median"], (b["x"] > 10).astype(float), atol=0.01)
    np.testing.assert_allclose(b["q95"] - b["median"], 0.1645, atol=0.01)
    np.testing.assert_allclose(b["median"] - b["q05"], 0.1645, atol=0.01)
    assert np.all(b["count"] > 15_000)
    assert plots.binned_quantiles([1.0, 2.0], [1.0, 2.0])["x"].size == 0  # too few points


def test_residual_panels_show_bulk_and_tails(tmp_path, captured):
    """Residuals with a heavy tail at small r: both panels, the symlog rule and the OOD set."""
    rng = np.random.default_rng(2)
    r = np.exp(rng.uniform(np.log(0.01), np.log(5), 20_000))
    msg = 1 / r**2
    resid = rng.normal(0, 0.01, r.size) + (r < 0.05) * rng.normal(0, 500, r.size)
    ood_r = 2 * r[:4000]
    row = {"r": r, "resid": resid, "scale": np.maximum(msg, 0.3), "ood_r": ood_r,
           "ood_resid": 3 * resid[:4000], "ood_scale": np.maximum(msg[:4000] / 4, 0.3),
           "title": "channel 0: 1/r**2"}
    out = plots.residual_panels([row, row], tmp_path / "res.png")
    assert out.is_file() and out.with_suffix(".svg").is_file()
    (name, fig), = captured
    assert len(data_axes(fig)) == 4
    assert_axes_filled(captured)
    titles = [ax.get_title() for ax in fig.axes]
    assert all("symlog, linear within" in t and "= median |.|" in t for t in titles)
    assert any(t.startswith("relative") for t in titles)
    assert all(ax.get_yscale() == "symlog" and ax.get_xscale() == "log" for ax in fig.axes)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert {"held-out: median", "out of distribution: median"} <= set(labels)


def test_identity_scatter_draws_the_reported_fit_on_the_identity(tmp_path, captured):
    """Kept points of a good fit lie on the drawn identity line; outliers are marked and
    counted."""
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, 5000)
    y = x + rng.normal(0, 0.01, x.size)
    out = np.zeros(x.size, bool)
    out[:500] = True
    y[:500] += rng.normal(0, 50, 500)
    plots.identity_scatter([{"x": x, "y": y, "outlier": out, "title": "R² 0.9999"}],
                           tmp_path / "m.png")
    (_, fig), = captured
    ax = fig.axes[0]
    assert_axes_filled(captured)
    kept = ax.collections[1].get_offsets()
    assert np.allclose(kept[:, 0], kept[:, 1], atol=0.05)  # on the identity
    assert len(ax.collections[0].get_offsets()) == 500  # the outliers, drawn apart
    assert "left out by the robust fit (500)" in ax.get_legend_handles_labels()[1]
    assert ax.get_xlim() == ax.get_ylim()
    assert any("points outside" in t.get_text() for t in ax.texts)


def test_heat_figures_state_their_clipping(tmp_path, captured):
    x, t = np.linspace(0, 1, 64), np.linspace(0, 1, 51)
    X, T = np.meshgrid(x, t)
    smooth = 1e-3 * np.sin(np.pi * X) * np.cos(3 * T)
    spiky = smooth.copy()
    spiky[0, 10] = 0.5  # one large value at t = 0
    plots.field_residuals(x, t, {"network - equation": smooth, "PDE residual": spiky},
                          tmp_path / "f.png", "residuals")
    plots.heat_maps(x, t, {"a": smooth, "b": spiky}, tmp_path / "h.png", difference=True)
    assert_axes_filled(captured)
    _, fig = captured[0]
    spiky_title = fig.axes[1].get_title()
    assert "colour clipped at 99 % of |.|" in spiky_title and "max |.| = 5.00e-01" in spiky_title
    mesh = fig.axes[1].collections[0]
    assert mesh.norm.vmax < 0.01  # the colour scale follows the bulk, not the spike
    assert (tmp_path / "f.svg").is_file() and (tmp_path / "h.svg").is_file()
    # a time range beyond training: the OOD points get their own band and a marked region
    te = np.linspace(0, 1.5, 76)
    Xe, Te = np.meshgrid(x, te)
    grows = 1e-3 * np.sin(np.pi * Xe) * np.exp(4 * np.maximum(Te - 1, 0))
    plots.field_residuals(x, te, {"network - exact": grows}, tmp_path / "e.png", horizon=1.0)
    _, fig = captured[-1]
    labels = fig.axes[1].get_legend_handles_labels()[1]
    assert {"held-out median", "t > 1 (OOD) median"} <= set(labels)
    assert "beyond training (OOD)" in fig.axes[2].get_legend_handles_labels()[1]
    assert "(held-out)" in fig.axes[0].get_title()
    assert_axes_filled(captured[-1:])


def test_line_plots(tmp_path, captured):
    plots.loss_curves({"train": [3.0, 2.0, 1.0], "val": [3.5, 2.5, 1.5]}, tmp_path / "l.png")
    plots.pareto_front([3, 5, 7, 9], [1.0, 0.1, 0.01, 0.009], tmp_path / "p.png", chosen=2)
    plots.curves_vs_step([0, 10, 20], {"pde": [1.0, 0.1, 0.01]}, tmp_path / "s.png",
                         marks={"L-BFGS": 10})
    plots.curves({"gnn": np.geomspace(1e-4, 1e-1, 50)}, np.arange(50), tmp_path / "c.png",
                 xlabel="t", ylabel="error")
    assert_axes_filled(captured)
    assert sorted(p.name for p in tmp_path.glob("*.svg")) == ["c.svg", "l.svg", "p.svg",
                                                              "s.svg"]
