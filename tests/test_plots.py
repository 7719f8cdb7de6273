"""The results plot: small multiples sharing the y axis, references in every panel, one style per
method across panels; ``hf-fair plot`` redraws it from results.json files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hf_fair.errors import HfFairError
from hf_fair.run.plots import main as plot_main
from hf_fair.run.plots import wga_figure

REAL = ["erm", "groupdro", "dfr"]
FINETUNED = ["vanilla", "lora", "dreambooth_cluster", "dreambooth_cluster+groupdro", "dreambooth_cluster+dfr"]
ALONE = ["synthetic:vanilla", "synthetic:dreambooth_cluster"]


def _doc(severity: float, methods: list[str]) -> dict:
    rng = np.random.default_rng(int(severity * 1000))
    return {"dataset": "colored-digits", "severity": severity, "selection": "val_worst_group",
            "methods": {m: {"worst_group_acc": {"mean": float(rng.random()), "std": 0.05, "per_seed": [0.5]}} for m in methods}}


def _series(ax) -> dict[str, tuple]:
    """label -> (colour, line style, marker) of each errorbar series of a panel."""
    out = {}
    for c in ax.containers:
        line = c.lines[0]
        out[c.get_label()] = (line.get_color(), line.get_linestyle(), line.get_marker())
    return out


def test_panels_hold_their_families_with_references_everywhere():
    docs = [_doc(b, REAL + FINETUNED + ["oracle"] + ALONE) for b in (0.99, 0.95)]
    fig = wga_figure(docs)
    axes = fig.axes
    assert len(axes) == 3
    panels = [_series(ax) for ax in axes]
    assert list(panels[0]) == ["oracle", "erm", "groupdro", "dfr"]
    assert list(panels[1]) == ["oracle", "erm"] + FINETUNED
    assert list(panels[2]) == ["oracle", "erm"] + ALONE
    # one y axis for all, severities in increasing order on each
    assert all(axes[0].get_shared_y_axes().joined(axes[0], ax) for ax in axes[1:])
    assert [t.get_text() for t in axes[2].get_xticklabels()] == ["0.95", "0.99"]
    # a method looks the same in every panel; within a panel no two series look alike
    for name in ("oracle", "erm"):
        assert len({p[name] for p in panels}) == 1, name
    for p in panels:
        assert len(set(p.values())) == len(p)
    # a source keeps its colour whatever the objective, and in the synthetic-only panel
    colour = panels[1]["dreambooth_cluster"][0]
    assert panels[1]["dreambooth_cluster+dfr"][0] == colour == panels[2]["synthetic:dreambooth_cluster"][0]
    assert panels[1]["vanilla"][0] != colour
    # the plotted values are the documents' means, in %
    oracle = next(c for c in axes[1].containers if c.get_label() == "oracle").lines[0]
    expected = [100 * d["methods"]["oracle"]["worst_group_acc"]["mean"] for d in sorted(docs, key=lambda d: d["severity"])]
    assert np.allclose(oracle.get_ydata(), expected)


def test_a_run_without_some_families_draws_only_its_panels():
    fig = wga_figure([_doc(0.99, ["erm", "lora"])])
    assert [list(_series(ax)) for ax in fig.axes] == [["erm"], ["erm", "lora"]]
    # a method missing at one severity is a gap, not a zero
    fig = wga_figure([_doc(0.95, ["erm", "oracle"]), _doc(0.99, ["erm", "oracle", "synthetic:lora"])])
    assert [list(_series(ax)) for ax in fig.axes] == [["oracle", "erm"], ["oracle", "erm", "synthetic:lora"]]
    line = next(c for c in fig.axes[1].containers if c.get_label() == "synthetic:lora").lines[0]
    assert np.isnan(line.get_ydata()[0]) and not np.isnan(line.get_ydata()[1])


def test_plot_command_redraws_from_results_files(tmp_path, capsys):
    files = []
    for b in (0.95, 0.99):
        f = tmp_path / f"results-{b}.json"
        f.write_text(json.dumps(_doc(b, ["erm", "oracle", "lora", "synthetic:lora"])))
        files.append(str(f))
    assert plot_main(files) == 0
    out = tmp_path / "wga_vs_severity.png"
    # the figure's numbers beside it: one row per method, a column per severity, the mean
    table = out.with_suffix(".md").read_text()
    docs = [json.loads(Path(f).read_text()) for f in files]
    lora = [100 * d["methods"]["lora"]["worst_group_acc"]["mean"] for d in docs]
    assert f"| lora | {lora[0]:.1f} | {lora[1]:.1f} | {sum(lora) / 2:.1f} |" in table
    with Image.open(out) as im:
        assert im.size[0] > 2 * im.size[1]  # three panels side by side
    # a run folder: its severity-*/results.json
    run = tmp_path / "run"
    for b, f in zip((0.95, 0.99), files):
        (run / f"severity-{b}").mkdir(parents=True)
        (run / f"severity-{b}" / "results.json").write_text(Path(f).read_text())
    assert plot_main([str(run)]) == 0 and (run / "wga_vs_severity.png").is_file()
    # two documents of one severity, a file that is not results, a missing path
    with pytest.raises(HfFairError, match="both hold severity 0.95"):
        plot_main([files[0], files[0], "--output", str(tmp_path / "x.png")])
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(HfFairError, match="not a results document"):
        plot_main([str(bad), "--output", str(tmp_path / "x.png")])
    with pytest.raises(HfFairError, match="neither a results.json file nor a run folder"):
        plot_main([str(tmp_path / "nope"), "--output", str(tmp_path / "x.png")])
    assert not (tmp_path / "x.png").exists()


def test_plot_is_a_cli_command(tmp_path):
    script = Path(sys.executable).parent / "hf-fair"  # the installed entry point (the dispatcher)
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "hf_fair.cli"]
    r = subprocess.run(cmd + ["plot", str(tmp_path / "nope")], capture_output=True, text=True)
    assert r.returncode == 2 and "neither a results.json file nor a run folder" in r.stderr and "Traceback" not in r.stderr


def test_severity_summary_averages_each_method_over_its_severities():
    from hf_fair.results import severity_summary, severity_summary_markdown

    docs = [_doc(0.99, ["erm", "lora"]), _doc(0.95, ["erm"]), _doc(0.995, ["erm", "lora"])]
    s = severity_summary(docs)
    assert s["severities"] == [0.95, 0.99, 0.995]
    erm = [d["methods"]["erm"]["worst_group_acc"]["mean"] for d in sorted(docs, key=lambda d: d["severity"])]
    assert s["methods"]["erm"]["mean"] == pytest.approx(sum(erm) / 3) and s["methods"]["erm"]["n_severities"] == 3
    # lora has no 0.95 row: a gap, and its mean is over the two severities it has
    lora = s["methods"]["lora"]
    assert lora["per_severity"]["0.95"] is None and lora["n_severities"] == 2
    assert lora["mean"] == pytest.approx((docs[0]["methods"]["lora"]["worst_group_acc"]["mean"]
                                          + docs[2]["methods"]["lora"]["worst_group_acc"]["mean"]) / 2)
    md = severity_summary_markdown(s)
    assert "| lora | - |" in md and "(2 of 3)" in md
