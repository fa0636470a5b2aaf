"""The plot and the CSV call each group by its name, and the plot says plainly what it shows."""
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
