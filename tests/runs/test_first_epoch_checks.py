"""
A data loader without a length (`max_instances_in_memory`): the checks that need the epoch
length run at the end of the first epoch, when it is known, in a real `allennlp train`.

The run: 160 instances in batches of 8, 20 updates per epoch that the trainer cannot count
in advance, 2 epochs, four layer groups unfrozen every 15 updates. Unfreezing needs 45
updates and training has 40, so the bottom group would never train; with a known length
this config is refused at construction. Here it stops at the end of the first epoch with
the same `ConfigurationError`, saying why only then, also when that epoch was interrupted
and continued with `--recover`.
"""
import signal
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from allennlp.common.checks import ConfigurationError

from tests.helpers import ROOT, allennlp_train, build, drive, layered_optimizer, read_trace

PLUGINS = ["--include-package", "tests.fault_injection"]
CONFIG = f"""
(import '{ROOT / "fixtures" / "experiment.jsonnet"}') + {{
  data_loader+: {{ batch_size: 8, shuffle: false, max_instances_in_memory: 40 }},
  trainer+: {{
    num_epochs: 2,
    optimizer+: {{
      parameter_groups: [
        [['^_text_field_embedder'], {{}}],
        [['^_seq2vec_encoder'], {{}}],
        [['^_feedforward'], {{}}],
        [['^_classification_layer'], {{}}],
      ],
    }},
    learning_rate_scheduler+: {{ gradual_unfreezing: true, unfreeze_every_num_updates: 15 }},
    checkpointer: {{ save_every_num_batches: 4 }},
    callbacks+: KILL,
  }},
}}
"""
MESSAGE = (
    "slanted_triangular: with `unfreeze_every_num_updates` = 15, unfreezing 4 layer groups "
    "takes 45 updates, but training has only 40 (2 epochs x 20), so the lowest groups would "
    "never train with all layers. The data loader has no length, so the number of updates "
    "per epoch was unknown until the first epoch ended, with 20 updates: this is found only "
    "now. Set `unfreeze_every_num_updates` to at most 13, or train longer."
)


def config(tmp_path: Path, kill_at: int = 0) -> Path:
    kill = f"[{{ type: 'sigkill_at_update', update: {kill_at} }}]" if kill_at else "[]"
    path = tmp_path / "unknown_length.jsonnet"
    path.write_text(CONFIG.replace("KILL", kill))
    return path


def assert_stopped_at_the_first_epoch_end(stderr: str, run: Path) -> None:
    assert "ConfigurationError" in stderr
    assert MESSAGE in " ".join(stderr.split()), stderr[-3000:]
    # Once as an ERROR line of ours, above AllenNLP's traceback.
    errors = [line for line in stderr.splitlines() if " - ERROR - allennlp_stlr" in line]
    assert len(errors) == 1 and errors[0].endswith(MESSAGE)
    assert stderr.index(errors[0]) < stderr.index("Uncaught exception")
    # Every update of the first epoch was made; none of the second.
    assert sorted(read_trace(run / "stlr_trace.jsonl")) == list(range(1, 21))


@pytest.mark.allennlp_train
def test_unfreezing_that_cannot_finish_stops_at_the_first_epoch_end(tmp_path: Path) -> None:
    run = tmp_path / "run"
    done = allennlp_train(str(config(tmp_path)), "-s", str(run), OMP_NUM_THREADS="1")
    assert done.returncode != 0
    assert_stopped_at_the_first_epoch_end(done.stderr, run)


@pytest.mark.allennlp_train
def test_the_check_counts_the_updates_before_a_recover(tmp_path: Path) -> None:
    """Killed at update 10, continued from the checkpoint at 8: the first epoch still has 20."""
    run = tmp_path / "run"
    args = [str(config(tmp_path, kill_at=10)), "-s", str(run), *PLUGINS]
    killed = allennlp_train(*args, OMP_NUM_THREADS="1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert max(read_trace(run / "stlr_trace.jsonl")) == 10

    recovered = allennlp_train(*args, "--recover", OMP_NUM_THREADS="1")
    assert recovered.returncode != 0
    assert_stopped_at_the_first_epoch_end(recovered.stderr, run)


# In process, as the trainer drives it: (configured num_steps_per_epoch, epoch lengths, the
# reason the message gives, or None when unfreezing fits the measured length)
IN_PROCESS = [
    (None, [20, 20], "unknown until the first epoch ended, with 20 updates: this is found only now"),
    (100, [20, 20], "`num_steps_per_epoch` is 100, but the first epoch had 20 updates."),
    (None, [23, 23], None),  # 45 updates of unfreezing fit in 46
    (20, [20, 20], None),  # refused at construction instead (test_scheduler)
]


@pytest.mark.parametrize("configured, lengths, reason", IN_PROCESS)
def test_first_epoch_end_checks_unfreezing_against_the_measured_length(
    configured: Optional[int], lengths: List[int], reason: Optional[str]
) -> None:
    optimizer, params = layered_optimizer(4)
    config: Dict[str, Any] = dict(num_epochs=2, gradual_unfreezing=True, unfreeze_every_num_updates=15)
    if configured == 20:
        with pytest.raises(ConfigurationError, match="training has only 40"):
            build(optimizer, num_steps_per_epoch=configured, **config)
        return
    scheduler = build(optimizer, num_steps_per_epoch=configured, **config)
    if reason is None:
        assert len(drive(scheduler, optimizer, lengths)) == sum(lengths)
        return
    ends: List[List[int]] = []
    with pytest.raises(ConfigurationError) as raised:
        drive(scheduler, optimizer, lengths, at_epoch_end=ends.append)
    assert ends == []  # at the first epoch end, in `step()`
    assert scheduler.last_batch_num_total == lengths[0]
    message = str(raised.value)
    assert "`unfreeze_every_num_updates` = 15" in message and "training has only 40" in message
    assert reason in message
    assert "Set `unfreeze_every_num_updates` to at most 13" in message
