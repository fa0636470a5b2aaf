"""
Distributed training: the workers apply the same schedule in lockstep, and a missing
`find_unused_parameters` is reported as a configuration error that says what to add (in a
real two-worker run: tests/runs/test_config_checks.py, its "distributed" case).

Measured on the fixture with 81 training instances in batches of 8 over two CPU workers:
AllenNLP shards the reader's lines round-robin by rank (41 and 40 instances), so the
workers' data loaders have 6 and 5 batches, the trainers pass 6 and 5 as
`num_steps_per_epoch`, and every epoch ends after 5 updates on both (the worker with the
longer shard stops when the other runs out). Without agreement, worker 0 would plan
with 6 updates per epoch and apply different learning rates from worker 1.
"""
import copy
import json
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import pytest
import torch
import torch.distributed as dist
from allennlp.common import Lazy, Params
from allennlp.common.checks import ConfigurationError
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
from allennlp.training.optimizers import Optimizer
from torch.nn.parallel import DistributedDataParallel

import allennlp_stlr  # noqa: F401  (registers our "slanted_triangular")
from allennlp_stlr.distributed import FIND_UNUSED_HINT
from tests.helpers import RESUME_CONFIG, ROOT, Tiny, allennlp_train, read_lines

INSTANCES, BATCH_SIZE, EPOCHS = 81, 8, 4
UPDATES_PER_EPOCH = (INSTANCES // 2) // BATCH_SIZE  # 40 instances: 5 batches


def two_worker_run(
    tmp_path: Path, find_unused_parameters: bool, scheduler: Optional[Dict[str, Any]] = None
) -> "subprocess.CompletedProcess[str]":
    train = tmp_path / "train.jsonl"
    lines = (ROOT / "fixtures" / "data" / "train.jsonl").read_text().splitlines()
    train.write_text("\n".join(lines[:INSTANCES]) + "\n")
    overrides = {
        "train_data_path": str(train),
        "data_loader": {"batch_size": BATCH_SIZE},
        "distributed": {
            "cuda_devices": [-1, -1],
            "ddp_accelerator": {
                "type": "torch",
                "find_unused_parameters": find_unused_parameters,
            },
        },
    }
    if scheduler:
        overrides.update({f"trainer.learning_rate_scheduler.{k}": v for k, v in scheduler.items()})
    return allennlp_train(
        str(RESUME_CONFIG), "-s", str(tmp_path / "run"), "-o", json.dumps(overrides)
    )


@pytest.mark.allennlp_train
def test_workers_with_uneven_shards_apply_identical_rates_and_flags(tmp_path: Path) -> None:
    done = two_worker_run(tmp_path, find_unused_parameters=True)
    assert done.returncode == 0, done.stderr[-3000:]
    # The raw shard lengths differ (41 vs 40 instances: 6 vs 5 batches)...
    for rank in (0, 1):
        log = (tmp_path / "run" / f"out_worker{rank}.log").read_text()
        assert "workers measured 5 to 6 updates per epoch; all plan with 5" in log
    worker0 = read_lines(tmp_path / "run" / "stlr_trace_worker0.jsonl")
    worker1 = read_lines(tmp_path / "run" / "stlr_trace_worker1.jsonl")
    # ...every epoch ends after the shorter shard's 5 updates on both workers...
    assert [line["update"] for line in worker0] == list(range(1, EPOCHS * UPDATES_PER_EPOCH + 1))
    assert [line["epoch"] for line in worker0] == [
        e for e in range(EPOCHS) for _ in range(UPDATES_PER_EPOCH)
    ]
    # ...and at every update both apply the same learning rates to the same layer groups.
    assert [(l["update"], l["lr"], l["trainable"]) for l in worker0] == [
        (l["update"], l["lr"], l["trainable"]) for l in worker1
    ]
    assert worker0[0]["trainable"] == [False, False, True, True]
    assert worker0[-1]["trainable"] == [True] * 4
    # Planned for 5-update epochs, the last update is exactly on the floor, base / 32, of
    # every group (discriminative: 0.01 at the top, times 0.38 per group below).
    floor = [0.01 * 0.38**2 / 32, 0.01 * 0.38 / 32, 0.01 / 32, 0.01 / 32]
    assert worker0[-1]["lr"] == floor


# A two-worker run without `find_unused_parameters` stops with our ConfigurationError naming
# the fix: tests/runs/test_config_checks.py (its "distributed" case) trains it.


# --------------------------------------------------------------------------- in-process DDP
@pytest.fixture
def process_group(tmp_path: Path) -> Iterator[None]:
    """A one-worker gloo group: enough for DDP's reducer and for our checks to engage."""
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    yield
    dist.destroy_process_group()


def wrapped(find_unused_parameters: bool, **scheduler: Any) -> DistributedDataParallel:
    """As AllenNLP does it: wrap in DDP first, then build optimizer and scheduler."""
    torch.manual_seed(0)
    model = DistributedDataParallel(Tiny(), find_unused_parameters=find_unused_parameters)
    optimizer = Optimizer.from_params(
        model_parameters=[[n, p] for n, p in model.named_parameters()],
        params=Params(
            {
                "type": "sgd",
                "lr": 0.1,
                "parameter_groups": [
                    [["^(module\\.)?embed\\."], {}],
                    [["^(module\\.)?encoder\\."], {}],
                    [["^(module\\.)?head\\."], {}],
                ],
            }
        ),
    )
    lazy = Lazy(LearningRateScheduler, params=Params({"type": "slanted_triangular", **scheduler}))
    model.scheduler = lazy.construct(optimizer=optimizer, num_epochs=3, num_steps_per_epoch=2)
    model.optimizer = optimizer
    return model


def train_two_batches(model: DistributedDataParallel) -> None:
    for update in (1, 2):
        model.optimizer.zero_grad()
        model(torch.ones(2, 3)).sum().backward()
        model.scheduler.step_batch(update)
        model.optimizer.step()


def test_frozen_parameters_do_break_ddp_without_find_unused_parameters(process_group: None) -> None:
    """The failure the check prevents, produced by freezing a layer by hand."""
    model = wrapped(False)
    model.module.embed.weight.requires_grad = False
    with pytest.raises(RuntimeError, match="Expected to have finished reduction"):
        train_two_batches(model)


def test_gradual_unfreezing_under_ddp_without_find_unused_parameters_names_the_fix(
    process_group: None,
) -> None:
    model = wrapped(False, gradual_unfreezing=True)
    with pytest.raises(ConfigurationError) as caught:
        model(torch.ones(2, 3))
    assert FIND_UNUSED_HINT in str(caught.value)
    assert "has frozen 4 parameter(s) (e.g. embed.weight)" in str(caught.value)


def test_gradual_unfreezing_under_ddp_with_find_unused_parameters_trains(
    process_group: None,
) -> None:
    model = wrapped(True, gradual_unfreezing=True)
    train_two_batches(model)
    assert [p.requires_grad for p in model.parameters()] == [False] * 4 + [True] * 2


def test_nothing_frozen_after_resume_needs_no_unused_parameter_detection(
    process_group: None,
) -> None:
    """Resumed after the last unfreezing epoch, nothing is frozen and DDP works as built."""
    model = wrapped(False, gradual_unfreezing=True)
    state = copy.deepcopy(model.scheduler.state_dict())
    state.update(updates=4, offset=0, epoch_ends=[2, 4])
    model.scheduler.load_state_dict(state)
    train_two_batches(model)
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.allennlp_train
def test_workers_unfreezing_every_n_updates_stay_in_lockstep(tmp_path: Path) -> None:
    # Stages end inside epochs (every 3 updates of 5-update epochs) on both workers alike.
    done = two_worker_run(tmp_path, True, {"unfreeze_every_num_updates": 3})
    assert done.returncode == 0, done.stderr[-3000:]
    worker0 = read_lines(tmp_path / "run" / "stlr_trace_worker0.jsonl")
    worker1 = read_lines(tmp_path / "run" / "stlr_trace_worker1.jsonl")
    assert [(l["update"], l["lr"], l["trainable"]) for l in worker0] == [
        (l["update"], l["lr"], l["trainable"]) for l in worker1
    ]
    flags = [line["trainable"] for line in worker0]
    assert flags[:3] == [[False, False, True, True]] * 3
    assert flags[3:6] == [[False, True, True, True]] * 3
    assert flags[6:] == [[True] * 4] * (EPOCHS * UPDATES_PER_EPOCH - 6)
