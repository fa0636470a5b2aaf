"""
The warnings the preview and training share: `allennlp_stlr.advice` over a config dict (run
at training by the `stlr_checks` callback), the scheduler's own warning where its block's
`num_epochs` or `num_steps_per_epoch` differ from the trainer's (with what that does to the
schedule, in place of AllenNLP's generic line), and the ERROR line logged once before a
`ConfigurationError` is raised. Real `allennlp train` runs: tests/runs/test_config_checks.py.
"""
import logging
from typing import Any, Dict, List

import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.training.learning_rate_schedulers import LearningRateScheduler

from allennlp_stlr import advice, checks
from allennlp_stlr.scheduler import SlantedTriangular
from tests.helpers import layered_optimizer

NAMES = ["_text_field_embedder.weight", "_encoder.weight", "_classification_layer.bias"]
TWO_WORKERS = {"cuda_devices": [-1, -1]}
FIND_UNUSED = {"type": "torch", "find_unused_parameters": True}


def config(scheduler: Dict[str, Any], **trainer: Any) -> Dict[str, Any]:
    groups = trainer.pop("groups", [[["^(module\\.)?_text_field_embedder"], {}]])
    return {
        "trainer": {
            "optimizer": {"type": "adam", "parameter_groups": groups},
            "learning_rate_scheduler": {"type": "slanted_triangular", **scheduler},
            **trainer,
        }
    }


def test_patience_is_named_with_its_value() -> None:
    assert advice.config_warnings(config({})) == []
    (warning,) = advice.config_warnings(config({}, patience=3))
    assert warning.startswith("slanted_triangular: trainer.patience = 3 can stop training")
    assert "remove `trainer.patience`" in warning


@pytest.mark.parametrize(
    "gradual, section, warned",
    [
        (True, TWO_WORKERS, True),
        (True, {"cuda_devices": [-1], "num_nodes": 2}, True),
        (True, {**TWO_WORKERS, "ddp_accelerator": FIND_UNUSED}, False),
        (True, {"cuda_devices": [-1]}, False),  # one worker: no DDP
        (False, TWO_WORKERS, False),  # nothing frozen
    ],
)
def test_find_unused_parameters_is_asked_for_only_where_ddp_meets_frozen_layers(
    gradual: bool, section: Dict[str, Any], warned: bool
) -> None:
    experiment = {**config({"gradual_unfreezing": gradual}), "distributed": section}
    warnings = advice.unused_parameter_warnings(experiment)
    assert warnings == ([warnings[0]] if warned else [])
    if warned:
        assert '"find_unused_parameters": true' in warnings[0]


@pytest.mark.parametrize(
    "regex, names, warned",
    [
        ("^_text_field_embedder", None, True),
        ("^_text_field_embedder", NAMES, True),
        ("^(module\\.)?_text_field_embedder", None, False),
        ("^(module\\.)?_text_field_embedder", NAMES, False),
        ("_encoder", None, False),  # unanchored: matches with the prefix too
        ("^_nothing", NAMES, False),  # matches nothing either way (the empty-group warning's)
        ("^_nothing", None, True),  # without the names, anchored without the prefix
    ],
)
def test_regexes_without_the_ddp_prefix_are_named_with_the_fix(
    regex: str, names: Any, warned: bool
) -> None:
    groups = [[[regex], {}], [["^module\\.x"], {"requires_grad": False}]]
    experiment = {**config({}, groups=groups), "distributed": TWO_WORKERS}
    warnings = advice.ddp_regex_warnings(experiment, names)
    assert len(warnings) == warned
    if warned:
        fixed = "^(module\\.)?" + regex[1:]
        assert f"write it as {fixed!r}" in warnings[0]
    # Not distributed: the regexes match as written.
    assert advice.ddp_regex_warnings(config({}, groups=groups), names) == []


def built(caplog: pytest.LogCaptureFixture, block: Dict[str, Any], **passed: Any) -> List[str]:
    """The warnings logged while the trainer's way of building (extras `passed`) runs."""
    optimizer, _ = layered_optimizer(4)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        LearningRateScheduler.from_params(
            params=Params({"type": "slanted_triangular", **block}), optimizer=optimizer, **passed
        )
    return [record.getMessage() for record in caplog.records]


# block, trainer's num_epochs, what the warning says the schedule does
EPOCHS = [
    (
        {"num_epochs": 5},
        10,
        "the triangle is planned for 5 epochs. The rate reaches its floor (1/32 of the peak) "
        "after 5 epochs and stays there for the last 5.",
    ),
    # 300 updates planned, cut at 30: update 200 is 1 - 170/270 of the way down from the peak,
    # a rate of (1 + 0.370 * 31) / 32 = 39% of it.
    (
        {"num_epochs": 15},
        10,
        "Training stops after 10 of them, before the rate has decayed to its floor: the last "
        "update, 200, trains at 39% of the peak instead of 1/32 of it.",
    ),
    # Epoch 1 is the second frozen stage, a triangle of its own that ends on the floor.
    (
        {"num_epochs": 15, "gradual_unfreezing": True},
        2,
        "Training stops after 2 of them. With gradual unfreezing one more layer group is "
        "unfrozen each epoch, so the lowest 2 layer group(s) never train.",
    ),
    (
        {"num_epochs": 4, "cut_frac": 1.0, "ratio": 7.5},
        6,
        "The rate reaches its peak after 4 epochs and stays there for the last 2.",
    ),
]


@pytest.mark.parametrize("block, trained, effect", EPOCHS)
def test_scheduler_epochs_other_than_the_trainers_are_named_with_their_effect(
    caplog: pytest.LogCaptureFixture, block: Dict[str, Any], trained: int, effect: str
) -> None:
    (warning,) = built(caplog, block, num_epochs=trained, num_steps_per_epoch=20)
    assert warning.startswith(
        f"slanted_triangular: learning_rate_scheduler.num_epochs = {block['num_epochs']} but "
        f"trainer.num_epochs = {trained}: "
    )
    assert effect in warning
    assert warning.endswith(
        "Remove `num_epochs` from the scheduler block so that the trainer passes its own."
    )
    # AllenNLP's own line about a key "found in both **extras and in params" is not given.
    assert not any("found in both" in record.getMessage() for record in caplog.records)


def test_equal_values_and_values_the_trainer_does_not_pass_give_no_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    same = {"num_epochs": 6, "num_steps_per_epoch": 20}
    assert built(caplog, same, num_epochs=6, num_steps_per_epoch=20) == []
    # A loader without a length: the trainer passes None; the first epoch's end compares.
    assert built(caplog, {"num_epochs": 6, "num_steps_per_epoch": 7}, num_epochs=6,
                 num_steps_per_epoch=None) == []  # fmt: skip


def test_a_configured_epoch_length_is_named_at_construction_and_not_again_at_the_epoch_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    optimizer, _ = layered_optimizer(4)
    with caplog.at_level(logging.WARNING):
        scheduler = LearningRateScheduler.from_params(
            params=Params({"type": "slanted_triangular", "num_steps_per_epoch": 9}),
            optimizer=optimizer, num_epochs=3, num_steps_per_epoch=13,
        )  # fmt: skip
        for update in range(1, 14):
            scheduler.step_batch(update)
        scheduler.step()
    # Only this package's warnings: another test in the same worker may have left an
    # AllenNLP logger at INFO.
    ours = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("allennlp_stlr")]
    assert [record.getMessage() for record in ours] == [checks.length_mismatch_message(9, 13)]


def test_a_configuration_error_is_logged_once_as_an_error_before_it_is_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    optimizer, _ = layered_optimizer(4)
    block = Params({"type": "slanted_triangular", "ratio": 0.25, "cut_frac": 0.3})
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            with pytest.raises(ConfigurationError) as raised:
                LearningRateScheduler.from_params(params=block.duplicate(), optimizer=optimizer,
                                                  num_epochs=3)  # fmt: skip
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert [record.getMessage() for record in errors] == [str(raised.value)]
    assert getattr(errors[0], checks.RAISED) is True
    assert "\n" not in errors[0].getMessage()
    # Built in code, outside the trainer's `from_params`, nothing is logged.
    caplog.clear()
    with pytest.raises(ConfigurationError):
        SlantedTriangular(optimizer, num_epochs=3, ratio=0.125)
    assert caplog.records == []


def test_ddp_safe() -> None:
    names = ["_text_field_embedder.weight", "_encoder.weight"]
    assert not advice.ddp_safe("^_text_field_embedder", names)
    assert advice.ddp_safe("^(module\\.)?_text_field_embedder", names)
    assert advice.ddp_safe("_encoder", names)
    assert advice.ddp_safe("^_nothing", names)  # matches nothing either way
