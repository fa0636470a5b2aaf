"""The plot and the CSV call each group by its name, and the plot says plainly what it shows;
the table's rows fit the terminal."""
import csv
from pathlib import Path
from typing import Any, Dict, List

import matplotlib.pyplot as plt
import pytest
from allennlp.common import Params
from allennlp.common.plugins import import_plugins

from allennlp_stlr.tools.preview.experiment import GroupSpec, read_experiment
from allennlp_stlr.tools.preview.render import csv_header, figure
from allennlp_stlr.tools.preview.simulate import simulate
from tests.helpers import ROOT


def experiment(scheduler: Dict[str, Any], groups: List[Any]) -> Any:
    config = Params.from_file(str(ROOT / "fixtures/experiment.jsonnet")).as_dict()
    config["trainer"]["learning_rate_scheduler"].update(scheduler)
    config["trainer"]["optimizer"]["parameter_groups"] = groups
    return read_experiment(Params(config), steps_per_epoch=5, build=True)


NAMED = [
    [["^(module\\.)?_text_field_embedder\\."], {"name": "embedder"}],
    [["^(module\\.)?_seq2vec_encoder\\."], {}],
    [["^(module\\.)?_feedforward\\.", "^(module\\.)?_classification_layer\\."], {"name": "top"}],
]


@pytest.fixture(autouse=True, scope="module")
def plugins() -> None:
    import_plugins()


@pytest.mark.parametrize(
    "scheduler, log_y, scale, label, frozen",
    [
        ({}, False, "linear", "learning rate", False),
        ({}, True, "log", "learning rate (log scale)", False),
        ({"gradual_unfreezing": True}, False, "linear", "learning rate", True),
    ],
)
def test_plot_axes_and_legend(
    scheduler: Dict[str, Any], log_y: bool, scale: str, label: str, frozen: bool
) -> None:
    preview = simulate(experiment(scheduler, NAMED))
    drawn = figure(preview, log_y=log_y)
    axes = drawn.axes[0]
    assert axes.get_yscale() == scale and axes.get_ylabel() == label
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    # Groups by their labels in the training log (the unnamed one by its index; the empty
    # default group is not drawn); the frozen entry only when something is frozen.
    named = ["embedder", "group 1", "top"]
    assert legend == named + (["frozen (rate set, not training)"] if frozen else [])
    plt.close(drawn)


def test_csv_header_names_groups_and_tells_repeated_names_apart() -> None:
    # Two groups under one name are one layer: each label shows the layer and its place.
    groups = [
        GroupSpec("encoder", ("a",), 0.1, None),
        GroupSpec(None, ("b",), 0.1, None),
        GroupSpec("encoder", ("c",), 0.1, None),
    ]
    labels = ["encoder [1/2]", "group 1", "encoder [2/2]"]
    assert csv_header(groups) == ["update", "epoch"] + [f"lr: {x}" for x in labels] + [
        f"trainable: {x}" for x in labels
    ]


def test_plot_legend_shows_labels_that_start_with_an_underscore() -> None:
    # `stlr-groups` names groups after the model's modules; matplotlib leaves a line whose
    # label starts with "_" out of a legend built from the lines.
    groups = [
        [["^(module\\.)?_text_field_embedder\\."], {"name": "_text_field_embedder"}],
        [["^(module\\.)?_seq2vec_encoder\\."], {"name": "_seq2vec_encoder"}],
        [
            ["^(module\\.)?_feedforward\\.", "^(module\\.)?_classification_layer\\."],
            {"name": "head"},
        ],
    ]
    drawn = figure(simulate(experiment({"gradual_unfreezing": True}, groups)))
    legend = [text.get_text() for text in drawn.axes[0].get_legend().get_texts()]
    assert legend == [
        "_text_field_embedder",
        "_seq2vec_encoder",
        "head",
        "frozen (rate set, not training)",
    ]
    plt.close(drawn)


def test_table_rows_fit_the_columns_and_the_groups_csv_has_every_regex_in_full(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # allennlp-models' RoBERTa config switched to 24 layers in groups of 4 with no-decay
    # halves: a group's regexes run to almost 600 characters. No model is needed to read
    # them with --steps-per-epoch and a plain schedule.
    from allennlp_stlr.tools.config import load_params
    from allennlp_stlr.tools.preview.render import format_table, write_csv

    monkeypatch.setenv("STLR_ROBERTA", "roberta-large")
    params = load_params(
        str(ROOT / "fixtures/roberta_switched.jsonnet"),
        '{"trainer.learning_rate_scheduler": {"type": "slanted_triangular"}}',
    )
    preview = simulate(read_experiment(params, steps_per_epoch=10))
    groups = preview.experiment.groups
    assert max(len(" ".join(group.regexes)) for group in groups) > 500
    table = format_table(preview, columns=120).splitlines()
    rows = [line for line in table if line[:5].strip().isdigit()]
    assert len(rows) == len(groups) == 17
    assert all(len(row) <= 120 for row in rows)
    # The end of a layer's regexes tells the layers apart.
    assert rows[2].endswith("...l\\.encoder\\.layer\\.3\\.")
    assert rows[-1].endswith("(parameters that no regex matches)")
    assert table[-2].startswith("regexes: shortened to fit 120 columns")
    # Wide enough, nothing is cut and nothing says so.
    wide = format_table(preview, columns=1000)
    assert "...l\\.encoder" not in wide and "shortened" not in wide

    written = write_csv(preview, str(tmp_path / "lr.csv"))
    assert written == str(tmp_path / "lr.groups.csv")
    with open(written, newline="") as handle:
        table_rows = list(csv.reader(handle))
    assert table_rows[0] == [
        "group", "name", "params", "peak lr", "floor lr", "unfrozen", "regexes"
    ]
    assert [row[6] for row in table_rows[1:-1]] == [" ".join(g.regexes) for g in groups[:-1]]
    assert table_rows[3][:3] == ["2", "layers 0-3 [1/2]", "?"]
