"""
Every value of every setting, as written in a config, is either a `ConfigurationError` that
names the setting or a valid schedule. The scheduler is built the way the trainer builds it:
`Lazy` over the config block, constructed with `optimizer`, `num_epochs` and
`num_steps_per_epoch` extras, so the values go through AllenNLP's `from_params`.
"""
import math
from typing import Any, Dict, Optional

import pytest
from allennlp.common import Lazy, Params
from allennlp.common.checks import ConfigurationError
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import drive, layered_optimizer, run_optimized

SETTINGS = [
    "num_epochs",
    "num_steps_per_epoch",
    "cut_frac",
    "ratio",
    "last_epoch",
    "gradual_unfreezing",
    "discriminative_fine_tuning",
    "decay_factor",
    "unfreeze_every_num_updates",
]
EPOCHS, STEPS = 3, 10  # what the trainer passes


def construct(config: Dict[str, Any]) -> Any:
    optimizer, _ = layered_optimizer(3)
    scheduler = Lazy(
        LearningRateScheduler, params=Params({"type": "slanted_triangular", **config})
    ).construct(optimizer=optimizer, num_epochs=EPOCHS, num_steps_per_epoch=STEPS)
    return scheduler, optimizer


def error_of(config: Dict[str, Any]) -> Optional[str]:
    """The ConfigurationError's message, or None when the config builds a scheduler."""
    try:
        construct(config)
    except ConfigurationError as error:
        return str(error)
    return None


# What a config file can hold: JSON values, and Python's own where `Params` are built in code.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 50),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.sampled_from([10**400, -(10**400), 2**53, 2**53 + 1, "five", "0.1", "true", "null", 1e308]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=3,
)


@settings(max_examples=250)
@given(setting=st.sampled_from(SETTINGS), value=VALUES)
def test_every_value_is_a_configuration_error_naming_the_setting_or_a_valid_schedule(
    setting: str, value: Any
) -> None:
    try:
        scheduler, optimizer = construct({setting: value})
    except ConfigurationError as error:
        assert f"`{setting}`" in str(error)
        return
    # Accepted: three epochs in the trainer's order, every rate finite and in its range.
    bases, ratio = list(scheduler.base_values), scheduler.ratio
    for lrs, _ in drive(scheduler, optimizer, [STEPS] * EPOCHS):
        for lr, base in zip(lrs, bases):
            assert math.isfinite(lr)
            assert base / ratio * (1 - 1e-12) <= lr <= base * (1 + 1e-12)


def must_be_count(setting: str, shown: str, fix: str, null: bool = False) -> str:
    return (
        f"slanted_triangular: `{setting}` must be a positive integer (at most 2**53)"
        f"{' or null' if null else ''}, got {shown}. {fix}"
    )


NUM_EPOCHS_FIX = (
    "Set it to the number of epochs the schedule should span (normally the trainer's "
    "`num_epochs`, which is passed in when you leave it out)."
)
STEPS_FIX = (
    "Set it to the number of optimizer updates per epoch, or leave it out so that the "
    "trainer passes the data loader's length."
)


def must_be_flag(setting: str, shown: str) -> str:
    return (
        f"slanted_triangular: `{setting}` must be true or false, got {shown}. "
        f"Write `{setting}: true` to use it, or leave it out."
    )


# The values that gave other exceptions, or were accepted, before: (setting, value, message)
NAMED = [
    ("num_epochs", "five", must_be_count("num_epochs", "the string 'five'", NUM_EPOCHS_FIX)),
    (
        "num_epochs",
        "5",
        must_be_count("num_epochs", "the string '5' (in quotes: write 5 without them)", NUM_EPOCHS_FIX),
    ),
    ("num_epochs", [5], must_be_count("num_epochs", "the list [5]", NUM_EPOCHS_FIX)),
    (
        "num_epochs",
        {"epochs": 5},
        must_be_count("num_epochs", "the object {'epochs': 5}", NUM_EPOCHS_FIX),
    ),
    (
        "num_epochs",
        True,
        "slanted_triangular: `num_epochs` must be a number, got true. A boolean is not a count "
        "(it would be read as 1 or 0).",
    ),
    ("num_epochs", math.nan, must_be_count("num_epochs", "nan", NUM_EPOCHS_FIX)),
    ("num_epochs", 5.0, must_be_count("num_epochs", "5.0", NUM_EPOCHS_FIX)),
    ("num_epochs", 10**400, must_be_count("num_epochs", "an integer of 401 digits", NUM_EPOCHS_FIX)),
    (
        "num_steps_per_epoch",
        10**400,
        must_be_count("num_steps_per_epoch", "an integer of 401 digits", STEPS_FIX, null=True),
    ),
    (
        "gradual_unfreezing",
        "true",
        must_be_flag("gradual_unfreezing", "the string 'true' (in quotes: write true without them)"),
    ),
    ("gradual_unfreezing", 2, must_be_flag("gradual_unfreezing", "2")),
    ("gradual_unfreezing", None, must_be_flag("gradual_unfreezing", "null")),
    ("discriminative_fine_tuning", None, must_be_flag("discriminative_fine_tuning", "null")),
    (
        "last_epoch",
        0,
        "slanted_triangular: `last_epoch` must be -1 (its default), got 0. The schedule counts "
        "its own progress, and `--recover` restores it from the checkpoint; any other value "
        "would only make AllenNLP's `Scheduler` demand an `initial_lr` in every param group. "
        "Remove the setting.",
    ),
    (
        "ratio",
        "32",
        "slanted_triangular: `ratio` must be a finite number >= 1 (at most 2**53), got the "
        "string '32' (in quotes: write 32 without them). It is how many times smaller the "
        "lowest learning rate is than the peak (32 in ULMFiT; 1 = constant learning rate).",
    ),
    (
        "cut_frac",
        "1_0",
        "slanted_triangular: `cut_frac` must be a number in [0, 1], got the string '1_0'. It is "
        "the fraction of each triangle spent increasing the learning rate (0.1 in ULMFiT; 0 = "
        "decay only, 1 = warm-up only).",
    ),
    (
        "ratio",
        10**400,
        "slanted_triangular: `ratio` must be a finite number >= 1 (at most 2**53), got an "
        "integer of 401 digits. It is how many times smaller the lowest learning rate is than "
        "the peak (32 in ULMFiT; 1 = constant learning rate).",
    ),
    (
        "decay_factor",
        10**400,
        "slanted_triangular: `decay_factor` must be a positive finite number, got an integer of "
        "401 digits. With `discriminative_fine_tuning` each layer group trains with "
        "`decay_factor` times the rate of the group above it (0.38 in ULMFiT, 1/2.6).",
    ),
]


@pytest.mark.parametrize(
    "setting, value, message", NAMED, ids=[f"{s}={str(v)[:12]}" for s, v, _ in NAMED]
)
def test_named_bad_values_get_exact_messages(setting: str, value: Any, message: str) -> None:
    assert error_of({setting: value}) == message


_PROBE = """
import json, sys
from tests.test_config_values import error_of
assert sys.flags.optimize == 1
for setting, value in json.loads(sys.argv[1]):
    print(json.dumps(error_of({setting: value})))
"""


@pytest.mark.subprocess
def test_named_bad_values_fail_the_same_way_under_python_O(request: pytest.FixtureRequest) -> None:
    cases = [("num_epochs", "five"), ("gradual_unfreezing", 2), ("last_epoch", 0), ("ratio", 0.5)]
    here = [error_of({setting: value}) for setting, value in cases]
    assert all(here)
    assert run_optimized(request, _PROBE, cases) == here
