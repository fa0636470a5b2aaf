"""Every bad configuration is a `ConfigurationError` naming the setting and the fix."""

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
from allennlp.training.optimizers import Optimizer

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
    # Named by its label and position; the scheduler sees tensors, not regexes, so it points
    # to where the regex is named.
    assert any(
        "param group 1 (group 1) has no parameters" in m
        and "most likely a misspelled regex" in m
        and "stage of its own" in m
        and "allennlp stlr-preview CONFIG" in m
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


def _optimizer_with_regexes(regexes):
    named = [(f"layer{i}.weight", torch.nn.Parameter(torch.ones(3))) for i in range(3)]
    return Optimizer.from_params(
        model_parameters=named,
        params=Params({"type": "sgd", "lr": 0.1, "parameter_groups": [[[r], {}] for r in regexes]}),
    )


# regexes of the layer groups, bottom first; each group's base rate; words of the warning
EMPTY_GROUPS_UNDER_DISCRIMINATIVE_RATES = [
    # A typo: layer1's parameters land in the default group, which then is the top layer
    # (an empty group takes no decay step, and gets the top rate on no parameters).
    (["^layer0\\.", "^layr1\\.", "^layer2\\."], [0.025, 0.1, 0.05, 0.1],
     ["param group 1 (group 1) has no parameters",
      "3 parameter(s) (1 tensor(s) of shape 3) that no regex matched: they went to "
      "AllenNLP's default group",
      "train at the top rate"]),
    # A group for a module the model lacks: nothing is left over, and no rate changes.
    (["^layer0\\.", "^layer1\\.", "^missing\\.", "^layer2\\."], [0.025, 0.05, 0.1, 0.1, 0.1],
     ["param group 2 (group 2) has no parameters", "so no rate changes"]),
]  # fmt: skip


@pytest.mark.parametrize("regexes, rates, words", EMPTY_GROUPS_UNDER_DISCRIMINATIVE_RATES)
def test_empty_group_under_discriminative_rates_says_where_its_parameters_went(
    caplog, regexes, rates, words
):
    optimizer = _optimizer_with_regexes(regexes)
    scheduler = build(optimizer, num_epochs=2, discriminative_fine_tuning=True, decay_factor=0.5)
    assert scheduler.base_values == pytest.approx(rates, rel=1e-12)
    warned = [r.getMessage() for r in caplog.records if "has no parameters" in r.getMessage()]
    assert len(warned) == 1
    assert all(word in warned[0] for word in words), warned[0]


@pytest.mark.parametrize(
    "steps, every, advice",
    [
        # 3 frozen stages must end before update 40: 13 per stage is the most (39 < 40).
        (10, 14, "Set `unfreeze_every_num_updates` to at most 13, or train longer."),
        # 2 updates in all cannot hold 3 frozen stages, whatever the interval.
        (1, 1, "Even 1 update per stage needs 4 updates: train longer, or merge layer groups"),
    ],
)
def test_unfreezing_that_cannot_finish_gets_advice_that_works(steps, every, advice):
    from allennlp_stlr.checks import check_stages_fit

    num_epochs = 4 if steps == 10 else 2
    with pytest.raises(ConfigurationError) as error:
        check_stages_fit(num_epochs, steps, 4, every)
    assert advice in str(error.value)
    if steps == 10:
        check_stages_fit(num_epochs, steps, 4, 13)  # the advice works
