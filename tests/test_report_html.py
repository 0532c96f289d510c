"""The HTML reports of a tiny n-body run, a tiny heat run and a table, looked at as a person
would: rendered in headless Chromium (Debian's ``chromium``; skipped with a message when it is
missing), the screenshot is not blank, every image loads and every equation is laid out as
MathML. Every plot the runs drew has non-degenerate axes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from physdistill import plots
from physdistill.cli import main
from physdistill.nbody.pipeline import NBodyConfig, run_nbody

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: a tiny n-body run (recovers nothing; two epochs so the loss curve is a curve)
NBODY = dict(law="spring", sims=30, steps=50, epochs=2, hidden=8, batch=16, sr_seconds=1.0,
             sr_samples=200, sr_restarts=1, rollout_systems=2, device="cpu")
HEAT = ["heat", "--adam-steps", "60", "--lbfgs-steps", "40", "--points", "300", "--sr-time",
        "2", "--quiet"]
#: written into the page's DOM after load: what loaded and how large each equation is
PROBE = """<script>window.addEventListener('load', () => {
  const imgs = [...document.images];
  const size = e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; };
  const fs = e => parseFloat(getComputedStyle(e).fontSize);
  const out = {images: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
    maths: [...document.querySelectorAll('math')].map(size),
    fractions: [...document.querySelectorAll('mfrac')].map(e => size(e)[1] / fs(e))};
  const pre = document.createElement('pre'); pre.id = 'probe';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});</script>"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny n-body run, a tiny heat run, and every figure they drew, kept open."""
    root = tmp_path_factory.mktemp("html")
    figs = []
    real = plots.save_figure

    def keep(fig, path, dpi=120):
        fig.canvas.draw()
        figs.append((str(path), [plots.axis_coverage(ax) for ax in fig.axes],
                     [ax.get_title() for ax in fig.axes]))
        return real(fig, path, dpi=dpi)

    with pytest.MonkeyPatch.context() as mp:
        for module in (plots.series, plots.nbody, plots.fields):  # each figure module's binding
            mp.setattr(module, "save_figure", keep)
        run_nbody(NBodyConfig(**NBODY), root / "nbody", progress=False)
        assert main([*HEAT, "--out", str(root / "heat")]) == 0
    return root, figs


@pytest.fixture(scope="module")
def chromium():
    """The browser, or a skip that says why (before the runs are made)."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; .ci/run installs "
                    "it): the HTML report was not rendered")
    return CHROMIUM


def _chromium(args, tmp_path):
    profile = tmp_path / f"profile{len(list(tmp_path.iterdir()))}"
    out = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def _look(page, tmp_path):
    """Render ``page`` as a person would; return the probe's findings and the screenshot."""
    shot = tmp_path / f"{page.parent.name}.png"
    _chromium([f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()], tmp_path)
    probe = page.with_name("probe.html")  # a test-only copy with the probe script
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = _chromium(["--virtual-time-budget=10000", "--dump-dom", probe.as_uri()], tmp_path)
    probe.unlink()
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"')), shot


def _not_blank(shot):
    from PIL import Image

    px = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert px.shape == (2000, 1200)
    assert (px < 250).mean() > 0.005 and px.std() > 10, "the screenshot is (nearly) blank"


@pytest.mark.parametrize("kind", ["nbody", "heat"])
def test_run_report_renders_in_chromium(chromium, runs, kind, tmp_path):
    root, _ = runs
    page = root / kind / "index.html"
    html = page.read_text()
    assert "http://" not in html and "https://" not in html  # offline: no CDN
    assert "<h2>Plots</h2>" in html and "Rule." in html
    found, shot = _look(page, tmp_path)
    _not_blank(shot)
    assert found["images"] >= (5 if kind == "nbody" else 5) and not found["broken"], found
    assert found["maths"] and all(w > 5 and h > 5 for w, h in found["maths"]), found
    # MathML is laid out as mathematics (a fraction is taller than a line), not as text
    assert found["fractions"] and max(found["fractions"]) > 1.6, found


def test_every_plot_of_both_runs_has_non_degenerate_axes(runs):
    """The data span at least a third of each axis of every figure both runs drew."""
    root, figs = runs
    names = {p.split("/")[-2] + "/" + p.split("/")[-1] for p, _, _ in figs}
    assert {"nbody/residuals.png", "nbody/messages_vs_force.png", "heat/errors.png",
            "heat/pde_residual.png", "heat/solution.png"} <= names
    for path, cover, titles in figs:
        for c, title in zip(cover, titles):
            if c is not None:
                assert min(c) >= 1 / 3, (path, title, c)


def test_report_open_prints_the_html_path(runs, capsys):
    root, _ = runs
    (root / "heat" / "index.html").unlink()
    assert main(["report", str(root / "heat"), "--open"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1].endswith("index.html") and (root / "heat" / "index.html").is_file()


def test_table_report_renders_in_chromium(chromium, runs, tmp_path):
    """write_table_html on table.json's content: one real run, one failed cell, and the
    per-entry summary."""
    from physdistill.nbody.report_html import write_table_html

    root, _ = runs
    m = json.loads((root / "nbody" / "metrics.json").read_text())
    (root / "spring-bottleneck-s0").symlink_to(root / "nbody")
    cells = [{"name": "spring-bottleneck-s0", "law": "spring", "reg": "bottleneck", "seed": 0,
              "metrics": m},
             {"name": "r2-l1-s0", "law": "r2", "reg": "l1", "seed": 0,
              "metrics": {"error": "diverged"}}]
    entries = [{"law": "spring", "reg": "bottleneck", "seeds": [0], "recovered": 1,
                "channels": 2, "r2_robust": [0.9, 0.7, 0.8], "r2_all": [0.5],
                "reference": [1.0, 1.0], "errors": []}]
    (root / "table.json").write_text(json.dumps({"entries": entries, "cells": cells}))
    page = write_table_html(root, root / "table.json")
    html = page.read_text()
    assert 'href="spring-bottleneck-s0/index.html"' in html and "error: diverged" in html
    assert "0.800 [0.700, 0.900]" in html and "1/2" in html
    found, shot = _look(page, tmp_path)
    _not_blank(shot)
    assert len(found["maths"]) == len(m["channels"]) and all(w > 5 for w, _ in found["maths"])
