"""
Nothing is lost when training stops and continues with `--recover`.

In-process: a tiny model, optimizer and scheduler built from `Params` as AllenNLP builds them
are driven in the trainer's call order; a checkpoint taken at every possible point is
`torch.save`d and loaded into a freshly built model, optimizer and scheduler (the
constructor runs again, as on `--recover`), and the continued run must match the
uninterrupted one at every later update: learning rates, `requires_grad` of every
parameter, and the weights at the end.

End-to-end: real `allennlp train` runs, SIGKILLed mid-epoch and continued with `--recover`,
and a checkpoint written by AllenNLP's built-in scheduler continued by ours.
"""
import copy
import io
import json
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import torch
from allennlp.common import Lazy, Params
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
from allennlp.training.optimizers import Optimizer

import allennlp_stlr  # noqa: F401  (registers our "slanted_triangular")
from allennlp_stlr.scheduler import SlantedTriangular
from tests.helpers import (
    RESUME_CONFIG,
    Point,
    drive,
    ROOT,
    TINY_OPTIMIZER,
    Tiny,
    allennlp_train,
    full_trace,
    killed_at,
    read_lines,
    read_trace,
    schedule_of,
)


MODES = {
    "plain": {},
    "gradual": {"gradual_unfreezing": True},
    "discriminative": {"discriminative_fine_tuning": True},
    "both": {"gradual_unfreezing": True, "discriminative_fine_tuning": True},
    # A new layer group every 2 updates: the stages end inside epochs.
    "gradual-by-updates": {"gradual_unfreezing": True, "unfreeze_every_num_updates": 2},
    "both-by-updates": {
        "gradual_unfreezing": True,
        "discriminative_fine_tuning": True,
        "unfreeze_every_num_updates": 3,
    },
}
# Updates per epoch, and the num_steps_per_epoch the trainer passes (None: no len()).
LENGTHS = {
    "known": ([5, 5, 5, 5], 5),
    "unknown": ([5, 5, 5, 5], None),
    "unknown-varying": ([6, 3, 5, 4], None),
}


@dataclass
class Setup:
    model: Tiny
    optimizer: torch.optim.Optimizer
    scheduler: SlantedTriangular


def build(mode: str, steps: Optional[int], num_epochs: int = 4, seed: int = 0) -> Setup:
    """Model, optimizer and scheduler, the way the trainer builds them from a config."""
    torch.manual_seed(seed)
    model = Tiny()
    parameters = [[n, p] for n, p in model.named_parameters() if p.requires_grad]
    optimizer = Optimizer.from_params(
        model_parameters=parameters, params=Params(copy.deepcopy(TINY_OPTIMIZER))
    )
    lazy = Lazy(
        LearningRateScheduler,
        params=Params({"type": "slanted_triangular", "cut_frac": 0.3, **MODES[mode]}),
    )
    scheduler = lazy.construct(
        optimizer=optimizer, num_epochs=num_epochs, num_steps_per_epoch=steps
    )
    assert isinstance(scheduler, SlantedTriangular)
    return Setup(model, optimizer, scheduler)


@dataclass
class Record:
    lrs: Dict[int, List[float]] = field(default_factory=dict)  # update -> lr per group
    flags: Dict[int, List[bool]] = field(default_factory=dict)  # update -> per parameter
    checkpoints: Dict[Point, bytes] = field(default_factory=dict)


def train(
    setup: Setup, lengths: List[int], start: Point = (0, 0), checkpoint: bool = False
) -> Record:
    """
    Train `setup` in the trainer's call order (`helpers.drive`), from `start` on as after
    `--recover`, optionally taking a checkpoint after every update and every epoch end.
    """
    record = Record()

    def save(point: Point) -> None:
        if checkpoint:
            buffer = io.BytesIO()
            torch.save(
                {
                    "model": setup.model.state_dict(),
                    "optimizer": setup.optimizer.state_dict(),
                    "learning_rate_scheduler": setup.scheduler.state_dict(),
                },
                buffer,
            )
            record.checkpoints[point] = buffer.getvalue()

    def forward_backward(update: int) -> None:
        setup.optimizer.zero_grad()
        x = torch.randn(4, 3, generator=torch.Generator().manual_seed(update))
        setup.model(x).pow(2).mean().backward()

    def optimizer_step(update: int, epoch_ends: List[int]) -> None:
        record.lrs[update] = [group["lr"] for group in setup.optimizer.param_groups]
        record.flags[update] = [p.requires_grad for p in setup.model.parameters()]
        setup.optimizer.step()
        save((len(epoch_ends), update - (epoch_ends[-1] if epoch_ends else 0)))

    save((0, 0))
    drive(
        setup.scheduler,
        setup.optimizer,
        lengths,
        start=start,
        before=forward_backward,
        after=optimizer_step,
        at_epoch_end=lambda epoch_ends: save((len(epoch_ends), 0)),
    )
    return record


def recover(mode: str, steps: Optional[int], blob: bytes, num_epochs: int = 4) -> Setup:
    """A fresh model, optimizer and scheduler, then the checkpoint, in the trainer's order."""
    setup = build(mode, steps, num_epochs=num_epochs, seed=1)
    state = torch.load(io.BytesIO(blob))
    setup.model.load_state_dict(state["model"])
    setup.optimizer.load_state_dict(state["optimizer"])
    setup.scheduler.load_state_dict(state["learning_rate_scheduler"])
    return setup


@pytest.mark.parametrize("lengths_name", sorted(LENGTHS))
@pytest.mark.parametrize("mode", sorted(MODES))
def test_resuming_from_any_checkpoint_continues_exactly(mode: str, lengths_name: str) -> None:
    lengths, steps = LENGTHS[lengths_name]
    reference_setup = build(mode, steps)
    reference = train(reference_setup, lengths, checkpoint=True)
    total = sum(lengths)
    # Every mid-epoch point, the end of every epoch's last batch, and every epoch boundary.
    assert len(reference.checkpoints) == 1 + total + len(lengths)
    for point, blob in reference.checkpoints.items():
        setup = recover(mode, steps, blob)
        continued = train(setup, lengths, start=point)
        done = sum(lengths[: point[0]]) + point[1]
        assert sorted(continued.lrs) == list(range(done + 1, total + 1)), point
        for update in continued.lrs:
            assert continued.lrs[update] == reference.lrs[update], (point, update)
            assert continued.flags[update] == reference.flags[update], (point, update)
        for mine, theirs in zip(setup.model.parameters(), reference_setup.model.parameters()):
            assert torch.equal(mine, theirs), point


def test_gradual_unfreezing_is_restored_with_the_checkpoint_not_the_constructor() -> None:
    """The constructor freezes all but the top group; loading must undo that mid-run."""
    lengths, steps = LENGTHS["known"]
    reference = train(build("gradual", steps), lengths, checkpoint=True)
    setup = build("gradual", steps, seed=1)
    assert [p.requires_grad for p in setup.model.parameters()] == [False] * 4 + [True] * 2
    state = torch.load(io.BytesIO(reference.checkpoints[(2, 3)]))
    setup.optimizer.load_state_dict(state["optimizer"])
    setup.scheduler.load_state_dict(state["learning_rate_scheduler"])
    assert [p.requires_grad for p in setup.model.parameters()] == [True] * 6


def test_state_dict_hands_out_independent_copies() -> None:
    lengths, steps = LENGTHS["unknown-varying"]
    setup = build("both", steps)
    train(setup, lengths[:2])
    taken = setup.scheduler.state_dict()
    snapshot = copy.deepcopy(taken)
    for update in range(sum(lengths[:2]) + 1, sum(lengths[:2]) + 4):
        setup.scheduler.step_batch(update)
    setup.scheduler.step()
    assert setup.scheduler.state_dict() != snapshot
    assert taken == snapshot
    # ...and loading a dict does not tie the scheduler to it either.
    setup.scheduler.load_state_dict(taken)
    setup.scheduler.step_batch(snapshot["updates"] + 1)
    setup.scheduler.step()
    assert taken == snapshot


def test_changed_num_epochs_on_resume_continues_as_if_configured_from_the_start() -> None:
    """
    Hyperparameters come from the config and progress from the checkpoint: a run resumed with
    `num_epochs` raised from 4 to 6 applies, from the next update on, exactly the rates and
    flags of a run configured with 6 epochs from the start.
    """
    lengths, steps = [5] * 6, 5
    four = train(build("both", steps, num_epochs=4), lengths[:4], checkpoint=True)
    six = train(build("both", steps, num_epochs=6), lengths)
    setup = recover("both", steps, four.checkpoints[(2, 2)], num_epochs=6)
    continued = train(setup, lengths, start=(2, 2))
    assert sorted(continued.lrs) == list(range(13, 31))
    assert continued.lrs == {u: six.lrs[u] for u in continued.lrs}
    assert continued.flags == {u: six.flags[u] for u in continued.lrs}
    # The updates already done used the 4-epoch triangle, so the two runs differed there.
    assert four.lrs[12] != six.lrs[12]


# --------------------------------------------------------------------------- real runs
# The fixture run: 160 instances in batches of 16 = 10 updates per epoch, 4 epochs, three
# layer groups (2 freezing epochs), checkpoints every 4 batches. Killed after update 17
# (epoch 1, batch 7), the latest checkpoint is e1_b4 (update 14), in a freezing epoch.
UPDATES_PER_EPOCH, EPOCHS, KILL_AT, RESUMED_AFTER = 10, 4, 17, 14


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Dict[int, Dict[str, Any]]:
    run = tmp_path_factory.mktemp("uninterrupted") / "run"
    done = allennlp_train(str(RESUME_CONFIG), "-s", str(run))
    assert done.returncode == 0, done.stderr[-3000:]
    return full_trace(run, UPDATES_PER_EPOCH * EPOCHS)


@pytest.mark.allennlp_train
def test_sigkill_mid_epoch_then_recover_gives_the_uninterrupted_schedule(
    tmp_path: Path, uninterrupted: Dict[int, Dict[str, Any]]
) -> None:
    run = tmp_path / "run"
    config = killed_at(RESUME_CONFIG, tmp_path, KILL_AT)
    args = [str(config), "-s", str(run), "--include-package", "tests.fault_injection"]

    killed = allennlp_train(*args)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    before = read_trace(run / "stlr_trace.jsonl")
    assert max(before) == KILL_AT
    assert (run / f"training_state_e1_b{RESUMED_AFTER - UPDATES_PER_EPOCH}.th").exists()

    recovered = allennlp_train(*args, "--recover")
    assert recovered.returncode == 0, recovered.stderr[-3000:]
    lines = read_lines(run / "stlr_trace.jsonl")
    after = lines[KILL_AT:]
    # Training went on from the mid-epoch checkpoint, redoing updates 15-17.
    assert [line["update"] for line in after] == list(
        range(RESUMED_AFTER + 1, UPDATES_PER_EPOCH * EPOCHS + 1)
    )
    # The continued run's lines say so; the killed run's do not.
    assert {line.get("resumed_after") for line in after} == {RESUMED_AFTER}
    assert not any("resumed_after" in line for line in lines[:KILL_AT])
    assert after[0]["epoch"] == 1 and after[0]["trainable"] == [False, True, True, True]
    assert schedule_of(read_trace(run / "stlr_trace.jsonl")) == schedule_of(uninterrupted)


@pytest.mark.allennlp_train
def test_checkpoint_of_the_builtin_scheduler_continues_under_ours(
    tmp_path: Path, uninterrupted: Dict[int, Dict[str, Any]]
) -> None:
    """
    AllenNLP's built-in scheduler (no `.allennlp_plugins` in the working folder, so the
    plugin is not loaded) trains until it is killed after update 17; ours continues from
    its checkpoint at update 14 with `--recover`.

    `--recover` insists on the config in the serialization folder, and the built-in's
    process cannot name the `stlr_trace` callback (it is part of the plugin), so the
    continuing config, which adds it, is written there first, as a user adding a callback
    before recovering would.
    """
    data = ROOT / "fixtures" / "data"
    params = Params.from_file(str(RESUME_CONFIG)).as_dict(quiet=True)
    params["train_data_path"] = str(data / "train.jsonl")
    params["validation_data_path"] = str(data / "dev.jsonl")
    builtin_params = copy.deepcopy(params)
    builtin_params["trainer"]["callbacks"] = [{"type": "sigkill_at_update", "update": KILL_AT}]
    folder = tmp_path / "builtin"
    folder.mkdir()
    (folder / "builtin.json").write_text(json.dumps(builtin_params))
    run = tmp_path / "run"
    killed = allennlp_train(
        "builtin.json", "-s", str(run), "--include-package", "tests.fault_injection",
        cwd=folder, PYTHONPATH=str(ROOT),
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert "allennlp_stlr" not in killed.stderr
    state = torch.load(run / f"training_state_e1_b{RESUMED_AFTER - UPDATES_PER_EPOCH}.th")
    builtin_state = state["learning_rate_scheduler"]
    assert builtin_state["last_batch_num_total"] == RESUMED_AFTER
    assert builtin_state["batch_num_total_epoch_end"] == [0, UPDATES_PER_EPOCH]

    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps(params))
    (run / "config.json").write_text(json.dumps(params))
    recovered = allennlp_train(str(ours), "-s", str(run), "--recover")
    assert recovered.returncode == 0, recovered.stderr[-3000:]
    assert "served by allennlp_stlr.scheduler.SlantedTriangular" in recovered.stderr
    continued = read_trace(run / "stlr_trace.jsonl")
    assert sorted(continued) == list(range(RESUMED_AFTER + 1, UPDATES_PER_EPOCH * EPOCHS + 1))
    expected = {u: v for u, v in schedule_of(uninterrupted).items() if u > RESUMED_AFTER}
    assert schedule_of(continued) == expected
