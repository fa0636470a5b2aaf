"""
`--recover` inside AllenNLP's `combined` scheduler: a run killed anywhere in any phase and
continued applies the uninterrupted run's learning rates and trainable flags at every
update.

`combined` builds each phase anew when its turn comes, setting every param group's
`initial_lr` to the group's `lr` at that moment: a later phase's peak is the rate the
previous phase ended on. On `--recover` it builds the current phase again, after the
optimizer state (with the `lr` of the checkpoint's moment) has been loaded, and only the
current phase's own state is restored. The runs (10 updates per epoch, checkpoints every 4
batches and at each epoch end, phases of 3 and 2 epochs):

- `recover_combined_ulmfit.jsonnet`: phase 1 with gradual unfreezing and discriminative
  fine-tuning, phase 2 plain; the token embedder frozen by the config.
- `recover_combined_plain.jsonnet`: two plain phases.

Kill points: update 17 (phase 1, second freezing epoch; resumed from update 14), 31 (the
first update of phase 2; resumed from the epoch-end checkpoint at the phase boundary, 30)
and 37 (mid-phase 2; resumed from 34).
"""
import json
import signal
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest
import torch

from tests.probes import digest
from tests.helpers import ROOT, allennlp_train, read_trace, schedule_of

CONFIGS = {
    "ulmfit": ROOT / "fixtures" / "recover_combined_ulmfit.jsonnet",
    "plain": ROOT / "fixtures" / "recover_combined_plain.jsonnet",
}
UPDATES = 50
EMBEDDER = "_text_field_embedder.token_embedder_tokens.weight"
PLUGINS = ["--include-package", "tests.probes", "--include-package", "tests.fault_injection"]

# config, kill after update, the checkpoint training continues from, its update
KILLS: List[Tuple[str, int, str, int]] = [
    ("ulmfit", 17, "training_state_e1_b4.th", 14),
    ("ulmfit", 31, "training_state_e3_b0.th", 30),
    ("ulmfit", 37, "training_state_e3_b4.th", 34),
    ("plain", 31, "training_state_e3_b0.th", 30),
    ("plain", 37, "training_state_e3_b4.th", 34),
]


def read_lines(path: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The serialization folder of each config's uninterrupted run, trained once."""
    runs: Dict[str, Path] = {}

    def run_of(name: str) -> Path:
        if name not in runs:
            run = tmp_path_factory.mktemp(f"uninterrupted_{name}") / "run"
            done = allennlp_train(
                str(CONFIGS[name]), "-s", str(run), *PLUGINS, OMP_NUM_THREADS="1"
            )
            assert done.returncode == 0, done.stderr[-3000:]
            assert sorted(read_trace(run / "stlr_trace.jsonl")) == list(range(1, UPDATES + 1))
            runs[name] = run
        return runs[name]

    return run_of


def assert_embedder_never_trained(run: Path) -> None:
    """Frozen from the first `on_start` to the last `on_end`, and unchanged in `best.th`."""
    records = read_lines(run / "parameter_digest.jsonl")
    initial = records[0]["parameters"][EMBEDDER]
    assert records[0]["event"] == "start" and EMBEDDER in records[0]["frozen"]
    assert records[-1]["event"] == "end"
    assert records[-1]["frozen"] == [EMBEDDER]
    assert records[-1]["parameters"][EMBEDDER] == initial
    assert digest(torch.load(run / "best.th")[EMBEDDER]) == initial


@pytest.mark.allennlp_train
def test_uninterrupted_phases_unfreeze_as_configured(uninterrupted: Callable[[str], Path]) -> None:
    """
    The reference itself: phase 1 unfreezes one layer group per epoch, phase 2 (no gradual
    unfreezing) trains every optimizer group, and the embedder the config froze is not in the
    optimizer (the trailing default group is empty) and never changes.
    """
    run = uninterrupted("ulmfit")
    flags = {u: line["trainable"] for u, line in read_trace(run / "stlr_trace.jsonl").items()}
    stages = [[False, False, True, True], [False, True, True, True]] + [[True] * 4] * 3
    assert flags == {u: stages[(u - 1) // 10] for u in range(1, UPDATES + 1)}
    assert_embedder_never_trained(run)


def describe(recovered: Dict[int, Any], reference: Dict[int, Any]) -> str:
    """The first updates that differ, with the recovered / uninterrupted rate ratios."""
    lines = []
    for update in sorted(reference):
        (lr, flags), (lr_ref, flags_ref) = recovered[update], reference[update]
        if (lr, flags) != (lr_ref, flags_ref):
            ratios = [round(a / b, 4) for a, b in zip(lr, lr_ref)]
            lines.append(f"update {update}: lr x{ratios}, trainable {flags} (want {flags_ref})")
    return "\n".join(lines[:8] + ([f"... {len(lines)} updates differ"] if lines else []))


@pytest.mark.allennlp_train
@pytest.mark.parametrize(
    "name, kill_at, checkpoint, resumed_after",
    KILLS,
    ids=[f"{name}-killed-at-{kill}" for name, kill, _, _ in KILLS],
)
def test_sigkill_then_recover_gives_the_uninterrupted_schedule(
    tmp_path: Path,
    uninterrupted: Callable[[str], Path],
    name: str,
    kill_at: int,
    checkpoint: str,
    resumed_after: int,
) -> None:
    config = tmp_path / "killed.jsonnet"
    config.write_text(
        f"(import '{CONFIGS[name]}') + {{ trainer+: {{ callbacks+: "
        f"[{{ type: 'sigkill_at_update', update: {kill_at} }}] }} }}"
    )
    run = tmp_path / "run"
    args = [str(config), "-s", str(run), *PLUGINS]

    killed = allennlp_train(*args, OMP_NUM_THREADS="1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert max(read_trace(run / "stlr_trace.jsonl")) == kill_at
    assert sorted(p.name for p in run.glob("training_state_*.th"))[-1] == checkpoint

    recovered = allennlp_train(*args, "--recover", OMP_NUM_THREADS="1")
    assert recovered.returncode == 0, recovered.stderr[-3000:]
    after = read_lines(run / "stlr_trace.jsonl")[kill_at:]
    assert [line["update"] for line in after] == list(range(resumed_after + 1, UPDATES + 1))

    reference = schedule_of(read_trace(uninterrupted(name) / "stlr_trace.jsonl"))
    continued = schedule_of(read_trace(run / "stlr_trace.jsonl"))
    assert continued == reference, describe(continued, reference)
    if name == "ulmfit":
        assert_embedder_never_trained(run)
