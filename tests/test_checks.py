"""Every bad configuration is a `ConfigurationError` naming the setting and the fix."""

import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.training.learning_rate_schedulers import LearningRateScheduler

from tests.helpers import build, layered_optimizer


# (optimizer shape, scheduler config, words the message must contain)
BAD = [
    (dict(num_layers=1), dict(num_epochs=0), ["`num_epochs`", "positive integer"]),
    (dict(num_layers=1), dict(num_epochs=-3), ["`num_epochs`"]),
    (dict(num_layers=1), dict(num_epochs=2, num_steps_per_epoch=0), ["`num_steps_per_epoch`", "null"]),
    (dict(num_layers=1), dict(num_epochs=2, cut_frac=1.5), ["`cut_frac`", "[0, 1]"]),
    (dict(num_layers=1), dict(num_epochs=2, cut_frac=-0.1), ["`cut_frac`"]),
    (dict(num_layers=1), dict(num_epochs=2, ratio=0), ["`ratio`", ">= 1"]),
    (dict(num_layers=1), dict(num_epochs=2, ratio=0.5), ["`ratio`"]),
    (dict(num_layers=1), dict(num_epochs=2, ratio=float("inf")), ["`ratio`"]),
    (
        dict(num_layers=2),
        dict(num_epochs=2, discriminative_fine_tuning=True, decay_factor=0),
        ["`decay_factor`", "positive"],
    ),
    (
        dict(num_layers=2),
        dict(num_epochs=2, discriminative_fine_tuning=True, decay_factor=-0.38),
        ["`decay_factor`"],
    ),
    (
        dict(num_layers=1),
        dict(num_epochs=2, gradual_unfreezing=True),
        ["`gradual_unfreezing`", "at least two layer groups", "parameter_groups", "bottom layer first"],
    ),
    (
        dict(num_layers=1),
        dict(num_epochs=2, discriminative_fine_tuning=True),
        ["`discriminative_fine_tuning`", "at least two layer groups", "parameter_groups"],
    ),
    (
        dict(num_layers=2, default_size=1),
        dict(num_epochs=3, gradual_unfreezing=True),
        ["`gradual_unfreezing`", "default group", "2 parameter(s)", "never be frozen"],
    ),
    (
        dict(num_layers=4),
        dict(num_epochs=3, gradual_unfreezing=True),
        ["`num_epochs` = 3", "4 layer groups", "lowest 1 group(s)", "at least 4"],
    ),
    (dict(num_layers=1), dict(num_epochs=2, last_epoch=-2), ["`last_epoch`"]),
]


@pytest.mark.parametrize("shape, config, words", BAD, ids=[str(c) for _, c, _ in BAD])
def test_bad_configuration_is_a_configuration_error(shape, config, words):
    optimizer, _ = layered_optimizer(**shape)
    with pytest.raises(ConfigurationError) as raised:
        build(optimizer, **config)
    for word in words:
        assert word in str(raised.value)


@pytest.mark.parametrize(
    "config, setting",
    [(dict(num_epochs=2.5), "`num_epochs`"), (dict(num_epochs=2, num_steps_per_epoch=True), "`num_steps_per_epoch`")],
)
def test_wrong_types_in_python_are_configuration_errors(config, setting):
    # From a config file AllenNLP's `from_params` rejects these types itself.
    from allennlp_stlr import SlantedTriangular

    optimizer, _ = layered_optimizer(1)
    with pytest.raises(ConfigurationError, match=setting):
        SlantedTriangular(optimizer, **config)


def test_without_any_parameter_groups_the_modes_ask_for_them():
    import torch

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    with pytest.raises(ConfigurationError, match="configure the optimizer's `parameter_groups`"):
        LearningRateScheduler.from_params(
            optimizer=optimizer,
            params=Params({"type": "slanted_triangular", "num_epochs": 3, "gradual_unfreezing": True}),
        )


def test_discriminative_alone_takes_a_nonempty_default_group_as_the_top_layer():
    optimizer, _ = layered_optimizer(1, default_size=2)
    scheduler = build(optimizer, num_epochs=2, discriminative_fine_tuning=True, decay_factor=0.5)
    assert scheduler.base_values == pytest.approx([0.05, 0.1])


def test_empty_layer_group_is_a_warning(caplog):
    optimizer, _ = layered_optimizer(3, empty=[1])
    build(optimizer, num_epochs=3, gradual_unfreezing=True)
    messages = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    # Named by its regexes (the group's "name"), so the user sees which regex matched nothing.
    assert any(
        "layer group 1 (^layer1\\.) has no parameters" in m and "stage of its own" in m
        for m in messages
    )


def test_every_setting_of_the_signature_has_its_check() -> None:
    from allennlp_stlr.checks import SETTING_CHECKS
    from allennlp_stlr.scheduler import SETTINGS

    assert SETTINGS == (
        "num_epochs", "num_steps_per_epoch", "cut_frac", "ratio", "last_epoch",
        "gradual_unfreezing", "discriminative_fine_tuning", "decay_factor",
        "unfreeze_every_num_updates",
    )
    assert sorted(SETTING_CHECKS) == sorted(SETTINGS)
