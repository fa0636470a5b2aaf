"""
`--recover` inside AllenNLP's `combined` scheduler: a run killed anywhere in any phase and
continued applies the uninterrupted run's learning rates and trainable flags at every
update, and ends with the uninterrupted run's weights, bit for bit.

`combined` builds each phase anew when its turn comes, setting every param group's
`initial_lr` to the group's `lr` at that moment: a later phase's peak is the rate the
previous phase ended on. On `--recover` it builds the current phase again, after the
optimizer state (with the `lr` of the checkpoint's moment) has been loaded, and only the
current phase's own state is restored. The runs (10 updates per epoch, checkpoints every 4
batches and at each epoch end, phases of 3 and 2 epochs):

- `recover_combined_ulmfit.jsonnet`: phase 1 with gradual unfreezing and discriminative
  fine-tuning, phase 2 plain; the token embedder frozen by the config.
- `recover_combined_refreeze.jsonnet`: phase 1 plain, phase 2 with gradual unfreezing every
  5 updates, which freezes again the lower groups that trained in phase 1; they must not
  move while frozen (with zero gradients left by `zero_grad()`, Adam would move them).

The data is not shuffled: AllenNLP does not repeat a shuffled order after `--recover`.

Kill points: update 17 (phase 1, second freezing epoch; resumed from update 14), 31 (the
first update of phase 2; resumed from the epoch-end checkpoint at the phase boundary, 30)
and 37 (mid-phase 2; resumed from 34).
"""
import signal
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest
import torch

from tests.probes import digest
from tests.helpers import (
    ROOT, allennlp_train, full_trace, killed_at, read_lines, read_trace, schedule_of,
)

CONFIGS = {
    "ulmfit": ROOT / "fixtures" / "recover_combined_ulmfit.jsonnet",
    "refreeze": ROOT / "fixtures" / "recover_combined_refreeze.jsonnet",
}
UPDATES = 50
EMBEDDER = "_text_field_embedder.token_embedder_tokens.weight"
PLUGINS = ["--include-package", "tests.probes", "--include-package", "tests.fault_injection"]

# config, kill after update, the checkpoint training continues from, its update
KILLS: List[Tuple[str, int, str, int]] = [
    ("ulmfit", 17, "training_state_e1_b4.th", 14),
    ("ulmfit", 31, "training_state_e3_b0.th", 30),
    ("ulmfit", 37, "training_state_e3_b4.th", 34),
    ("refreeze", 31, "training_state_e3_b0.th", 30),
    ("refreeze", 37, "training_state_e3_b4.th", 34),
]


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
            full_trace(run, UPDATES)
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


def final_weights(run: Path) -> Dict[str, str]:
    """The digest of every parameter at the end of the (last) training run in `run`."""
    records = read_lines(run / "parameter_digest.jsonl")
    assert records[-1]["event"] == "end"
    return records[-1]["parameters"]


def weights_after_each_update(run: Path) -> Dict[int, Dict[str, str]]:
    """Per update, the digest of every parameter after it (after a recover, the last wins)."""
    records = read_lines(run / "parameter_digest.jsonl")
    return {r["update"]: r["parameters"] for r in records if r["event"] == "update"}


def unchanged(weights: Dict[int, Dict[str, str]], prefix: str, first: int, last: int) -> bool:
    """Whether the parameters named `prefix...` are the same after updates `first`..`last`."""
    def of(update: int) -> Dict[str, str]:
        return {n: d for n, d in weights[update].items() if n.startswith(prefix)}

    assert of(first)
    return all(of(update) == of(first) for update in range(first, last + 1))


@pytest.mark.allennlp_train
def test_groups_frozen_again_by_a_later_phase_do_not_move(
    uninterrupted: Callable[[str], Path]
) -> None:
    """
    Phase 1 trains every group; phase 2 freezes the embedder for updates 31-40 and the
    encoder for 31-35. Their weights after update 30 stay exactly as they are until they
    are unfrozen, and change from then on.
    """
    run = uninterrupted("refreeze")
    flags = {u: line["trainable"] for u, line in read_trace(run / "stlr_trace.jsonl").items()}
    stage = {31: [False, False, True, True], 36: [False, True, True, True]}
    expected = {
        u: stage[31] if 31 <= u <= 35 else stage[36] if 36 <= u <= 40 else [True] * 4
        for u in range(1, UPDATES + 1)
    }
    assert flags == expected
    weights = weights_after_each_update(run)
    assert sorted(weights) == list(range(1, UPDATES + 1))
    for prefix, last_frozen in [("_text_field_embedder", 40), ("_seq2vec_encoder", 35)]:
        assert not unchanged(weights, prefix, 29, 30), f"{prefix} did not train in phase 1"
        assert unchanged(weights, prefix, 30, last_frozen), f"{prefix} moved while frozen"
        assert not unchanged(weights, prefix, last_frozen, last_frozen + 1)


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
    run = tmp_path / "run"
    args = [str(killed_at(CONFIGS[name], tmp_path, kill_at)), "-s", str(run), *PLUGINS]

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
    else:
        after_update = weights_after_each_update(run)
        reference_weights = weights_after_each_update(uninterrupted(name))
        differ = [
            u for u in range(resumed_after + 1, UPDATES + 1) if after_update[u] != reference_weights[u]
        ]
        assert differ == [], f"weights differ from the uninterrupted run's after updates {differ}"
    assert final_weights(run) == final_weights(uninterrupted(name))
