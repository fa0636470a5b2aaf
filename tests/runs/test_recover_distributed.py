"""
Distributed `--recover` with uneven shards: after one worker is SIGKILLed in a later epoch
and the run is continued, every worker applies the uninterrupted run's learning rates and
trainable flags at every update, and the replicas stay equal.

The run (`fixtures/recover_distributed.jsonnet`): 81 instances over two CPU workers, shards
of 41 and 40 instances (6 and 5 batches of 8); every epoch ends after 5 updates on both,
because the worker with the longer shard stops when the other runs out. On `--recover`,
AllenNLP's trainer skips the finished epochs by iterating each worker's own shard without
that stop, so worker 0's `_total_batches_completed` (the `batch_num_total` it passes to
`step_batch`) gains one per skipped epoch: killed at update 13 (epoch 2, batch 3) and
resumed from the checkpoint at update 12, worker 0 goes on counting from 14, worker 1
from 12. The schedule must not follow that count.

The traces are therefore compared by (epoch, batch in epoch), which both workers agree on;
their `update` field is the trainer's count, shifted on worker 0 after the recover.
"""
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

import pytest

from tests.helpers import ALLENNLP, ROOT, killed_at, read_lines

CONFIG = ROOT / "fixtures" / "recover_distributed.jsonnet"
UPDATES_PER_EPOCH, EPOCHS = 5, 4
# Epoch 2 (the third), batch 3; the latest checkpoint is e2_b2, written after update 12.
KILL_AT, KILLED_RANK = 13, 1
CHECKPOINT = "training_state_e2_b2.th"
TIMEOUT_SECONDS = 300
PLUGINS = ["--include-package", "tests.probes", "--include-package", "tests.fault_injection"]

# (epoch, batch in epoch) -> (lr per group, trainable per group)
Key = Tuple[int, int]
Schedule = Dict[Key, Tuple[List[float], List[bool]]]


def live_members(group: int) -> Set[int]:
    """Pids of the processes, zombies aside, still in process group `group`."""
    alive = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state != "Z":
            alive.add(int(entry.name))
    return alive


def distributed_train(*args: str) -> "subprocess.CompletedProcess[str]":
    """
    `allennlp train` in a process group of its own. If it does not end in time (a worker
    waiting forever on a dead peer), the whole group is killed and the test fails.
    """
    process = subprocess.Popen(
        [ALLENNLP, "train", *args],
        cwd=ROOT,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        command = " ".join(args)
        pytest.fail(f"allennlp train {command} hung for {TIMEOUT_SECONDS} s:\n{stderr[-3000:]}")
    # The launcher is gone; give its workers a moment to be reaped, then none may be left.
    deadline = time.monotonic() + 10
    while live_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = live_members(process.pid)
    if left:
        os.killpg(process.pid, signal.SIGKILL)
    assert not left, f"workers {sorted(left)} outlived `allennlp train {' '.join(args)}`"
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def schedule_by_batch(lines: List[Dict[str, Any]]) -> Schedule:
    """Lines of `stlr_trace` by (epoch, batch); after a recover the last line wins."""
    return {(line["epoch"], line["batch"]): (line["lr"], line["trainable"]) for line in lines}


def trace(run: Path, rank: int) -> List[Dict[str, Any]]:
    return read_lines(run / f"stlr_trace_worker{rank}.jsonl")


def final_digests(run: Path, rank: int) -> Dict[str, str]:
    records = read_lines(run / f"parameter_digest_worker{rank}.jsonl")
    assert records[-1]["event"] == "end"
    return records[-1]["parameters"]


ALL_BATCHES = [(e, b) for e in range(EPOCHS) for b in range(1, UPDATES_PER_EPOCH + 1)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Dict[int, Schedule]:
    run = tmp_path_factory.mktemp("uninterrupted") / "run"
    done = distributed_train(str(CONFIG), "-s", str(run), *PLUGINS)
    assert done.returncode == 0, done.stderr[-3000:]
    schedules = {rank: schedule_by_batch(trace(run, rank)) for rank in (0, 1)}
    assert sorted(schedules[0]) == ALL_BATCHES
    assert schedules[0] == schedules[1]
    assert final_digests(run, 0) == final_digests(run, 1)
    return schedules


@dataclass
class Recovered:
    run: Path
    killed: "subprocess.CompletedProcess[str]"
    recovered: "subprocess.CompletedProcess[str]"
    lines_before: Dict[int, int]  # trace lines per worker written before the recover
    states_before: List[str]  # training states in the folder before the recover


@pytest.fixture(scope="module")
def recovered(tmp_path_factory: pytest.TempPathFactory) -> Recovered:
    folder = tmp_path_factory.mktemp("killed")
    run = folder / "run"
    args = [str(killed_at(CONFIG, folder, KILL_AT, rank=KILLED_RANK)), "-s", str(run), *PLUGINS]
    killed = distributed_train(*args)
    lines_before = {rank: len(trace(run, rank)) for rank in (0, 1)}
    states_before = sorted(p.name for p in run.glob("training_state_*.th"))
    resumed = distributed_train(*args, "--recover")
    return Recovered(run, killed, resumed, lines_before, states_before)


@pytest.mark.allennlp_train
def test_sigkill_of_one_worker_ends_the_run_with_the_mid_epoch_checkpoint_in_place(
    recovered: Recovered,
) -> None:
    killed = recovered.killed
    assert killed.returncode not in (0, None), killed.stderr[-3000:]
    # torch's launcher saw the worker die and stopped the other one (`distributed_train`
    # checked that no worker is left).
    assert f"process {KILLED_RANK} terminated with signal SIGKILL" in killed.stderr
    last = {
        rank: trace(recovered.run, rank)[recovered.lines_before[rank] - 1] for rank in (0, 1)
    }
    assert (last[KILLED_RANK]["update"], last[KILLED_RANK]["epoch"]) == (KILL_AT, 2)
    # The other worker may be stopped before it records the update it shared with the dead one.
    assert last[1 - KILLED_RANK]["update"] in (KILL_AT - 1, KILL_AT)
    assert recovered.states_before[-1] == CHECKPOINT, recovered.states_before


@pytest.mark.allennlp_train
def test_recover_ends_normally_and_redoes_the_updates_after_the_checkpoint(
    recovered: Recovered,
) -> None:
    assert recovered.recovered.returncode == 0, recovered.recovered.stderr[-3000:]
    expected = [(e, b) for e, b in ALL_BATCHES if (e, b) > (2, 2)]
    first = {}
    for rank in (0, 1):
        after = trace(recovered.run, rank)[recovered.lines_before[rank] :]
        assert [(line["epoch"], line["batch"]) for line in after] == expected
        first[rank] = after[0]["update"]
    # The situation under test: skipping epochs 0 and 1 and two batches of epoch 2, the
    # trainer counted 6 batches per epoch on worker 0 (41 instances), 5 on worker 1.
    assert first == {0: 6 + 6 + 2 + 1, 1: 5 + 5 + 2 + 1}


@pytest.mark.allennlp_train
def test_every_worker_applies_the_uninterrupted_rates_and_flags_after_recover(
    recovered: Recovered, uninterrupted: Dict[int, Schedule]
) -> None:
    assert recovered.recovered.returncode == 0, recovered.recovered.stderr[-3000:]
    for rank in (0, 1):
        merged = schedule_by_batch(trace(recovered.run, rank))
        wrong = {
            key: (merged[key], uninterrupted[rank][key])
            for key in ALL_BATCHES
            if merged[key] != uninterrupted[rank][key]
        }
        assert not wrong, (
            f"worker {rank}, (epoch, batch): ((lr, trainable) recovered, uninterrupted) {wrong}"
        )


@pytest.mark.allennlp_train
def test_replicas_stay_equal_after_recover(recovered: Recovered) -> None:
    assert recovered.recovered.returncode == 0, recovered.recovered.stderr[-3000:]
    worker0, worker1 = final_digests(recovered.run, 0), final_digests(recovered.run, 1)
    differ = sorted(name for name in worker0 if worker0[name] != worker1[name])
    assert not differ, f"the workers' final parameters differ: {differ}"

