"""Every state format `allennlp_stlr.checkpoint` reads, and the guards' pickled path."""
import zipfile

import pytest
import torch
from allennlp.common.checks import ConfigurationError

from allennlp_stlr import checkpoint
from tests import helpers
from tests.helpers import ROOT, build, layered_optimizer

# `state_dict()` of a scheduler of the previous layout (guards defined in
# allennlp_stlr/scheduler.py), saved with torch.save after update 7 of the run below.
FORMAT_2_BEFORE_THE_MOVE = ROOT / "fixtures" / "checkpoints" / "scheduler_state_format_2.th"
CONFIG = dict(
    num_epochs=4,
    num_steps_per_epoch=5,
    gradual_unfreezing=True,
    discriminative_fine_tuning=True,
    decay_factor=0.5,
)
LENGTHS = [5] * 4


def uninterrupted() -> list:
    optimizer, _ = layered_optimizer(3)
    return helpers.drive(build(optimizer, **CONFIG), optimizer, LENGTHS)


def continued(state: dict, lr: float = 0.1) -> list:
    """Rates and flags of updates 8 to 20, continued from `state` (saved after update 7)."""
    optimizer, _ = layered_optimizer(3, lr=lr)
    scheduler = build(optimizer, **CONFIG)
    scheduler.load_state_dict(state)
    return helpers.drive(scheduler, optimizer, LENGTHS, start=(1, 2))


def test_a_checkpoint_pickled_with_the_old_path_of_the_guards_loads_and_continues_exactly():
    with zipfile.ZipFile(FORMAT_2_BEFORE_THE_MOVE) as archive:
        pickled = archive.read("archive/data.pkl")
    assert b"allennlp_stlr.scheduler\nRequiresPlugin" in pickled
    state = torch.load(FORMAT_2_BEFORE_THE_MOVE)
    assert state["format"] == checkpoint.STATE_FORMAT
    assert state["step_batch"] == checkpoint.RequiresPlugin()
    assert continued(state) == uninterrupted()[7:]


def test_the_older_format_without_base_rates_continues_with_the_optimizers():
    state = {
        "format": checkpoint.STATE_FORMAT_WITHOUT_BASES,
        "updates": 7,
        "offset": 3,
        "epoch_ends": [5],
    }
    assert continued(state) == uninterrupted()[7:]
    # The base rates are the optimizer's, not taken from the state.
    doubled = continued(state, lr=0.2)
    expected = [[2 * lr for lr in lrs] for lrs, _ in uninterrupted()[7:]]
    assert [lrs for lrs, _ in doubled] == expected


def test_the_builtins_format_continues():
    state = {"last_batch_num_total": 7, "batch_num_total_epoch_end": [0, 5], "freezing_current": True}
    assert continued(state) == uninterrupted()[7:]


def test_any_other_state_is_a_configuration_error():
    message = r"not written by a slanted_triangular scheduler \(keys \['last_epoch'\]\)"
    with pytest.raises(ConfigurationError, match=message):
        checkpoint.read({"last_epoch": 3})


def test_the_state_holds_copies_and_the_guards():
    ends = [5]
    state = checkpoint.state_dict(7, ends, [0.1])
    ends.append(10)
    assert state["epoch_ends"] == [5]
    assert {name: state[name] for name in checkpoint.GUARDED_METHODS} == {
        name: checkpoint.RequiresPlugin() for name in checkpoint.GUARDED_METHODS
    }
