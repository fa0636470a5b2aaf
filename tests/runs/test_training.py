"""
Real `allennlp train` runs of the fixture experiments, checked against the ULMFiT
schedule written out here independently of `allennlp_stlr.schedule`.

Each run records every update's learning rates and trainable groups in
`stlr_trace.jsonl` (the `stlr_trace` callback), which is compared, update by update,
with the formula of Howard & Ruder (2018), eq. 3, with `t` counted from 1:

    cut = max(1, int(T * cut_frac))
    p = t / cut if t < cut else 1 - (t - cut) / (T - cut)
    lr = base * (1 + p * (ratio - 1)) / ratio

With gradual unfreezing over L layer groups, each of the first L - 1 epochs is its own
triangle (T = one epoch) and epoch e trains the top e + 1 groups; then one triangle spans
the remaining epochs. With discriminative fine-tuning, `base = lr * decay_factor ** depth`,
where depth counts the layer groups above (the top group has depth 0).

The runs are `allennlp train` subprocesses started in the repository root, so that
`.allennlp_plugins` loads the plugin the way a user's run does.

A comparison with AllenNLP's built-in scheduler in the same kind of run is not here: the
`stlr_trace` callback lives in this package, and importing any of its modules (e.g.
`--include-package allennlp_stlr.callbacks`) runs the package's `__init__`, which
registers our scheduler under the built-in's name. The in-process drop-in tests compare
the two classes directly.
"""
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from tests.helpers import ROOT, allennlp_train, read_lines

pytestmark = pytest.mark.allennlp_train

TRAIN_DATA = ROOT / "fixtures" / "data" / "train.jsonl"


# ----------------------------------------------------------------------- the reference schedule
def stlr(t: int, total: int, cut_frac: float, ratio: float) -> float:
    """ULMFiT's eq. 3 as a multiplier of the base rate, for update t (1-based) of a triangle."""
    cut = max(1, int(total * cut_frac))
    p = t / cut if t < cut else 1 - (t - cut) / (total - cut)
    return (1 + p * (ratio - 1)) / ratio


# Where the settings of a Case that a run may override are in the config.
SETTINGS = {
    "lr": "trainer.optimizer.lr",
    "num_epochs": "trainer.num_epochs",
    "accumulation": "trainer.num_gradient_accumulation_steps",
    "cut_frac": "trainer.learning_rate_scheduler.cut_frac",
    "ratio": "trainer.learning_rate_scheduler.ratio",
    "decay_factor": "trainer.learning_rate_scheduler.decay_factor",
}


@dataclass
class Case:
    """A fixture run and the schedule settings it must follow."""

    name: str
    config: str
    # Settings (of SETTINGS) the run overrides in its config: the case takes them too.
    override: Dict[str, Any] = field(default_factory=dict)
    # Other overrides, by AllenNLP's dotted key.
    more_overrides: Dict[str, Any] = field(default_factory=dict)
    # What the run's settings are (the config's, unless overridden), for the reference schedule.
    lr: float = 0.01
    num_epochs: int = 6
    batch_size: int = 16
    accumulation: int = 1
    cut_frac: float = 0.1
    ratio: float = 32
    gradual_unfreezing: bool = False
    decay_factor: Optional[float] = None  # None: no discriminative fine-tuning
    layer_groups: int = 1  # optimizer groups that hold parameters, bottom first
    optimizer_groups: int = 1  # including AllenNLP's trailing default group
    # As shipped, the last epoch's training loss is at most this fraction of the first
    # epoch's (None: hyperparameters overridden, not checked).
    max_loss_ratio: Optional[float] = None

    def __post_init__(self) -> None:
        for name, value in self.override.items():
            setattr(self, name, value)

    @property
    def overrides(self) -> Dict[str, Any]:
        """The run's `-o` overrides."""
        return {**{SETTINGS[k]: v for k, v in self.override.items()}, **self.more_overrides}

    @property
    def updates_per_epoch(self) -> int:
        instances = len(TRAIN_DATA.read_text().splitlines())
        return math.ceil(math.ceil(instances / self.batch_size) / self.accumulation)

    def expected(self) -> List[Dict[str, Any]]:
        """Epoch, learning rate of each layer group and trainable flags, per update."""
        steps = self.updates_per_epoch
        freezing = self.layer_groups - 1 if self.gradual_unfreezing else 0
        depths = [self.layer_groups - 1 - g for g in range(self.layer_groups)]
        bases = [
            self.lr * (self.decay_factor**d if self.decay_factor is not None else 1.0)
            for d in depths
        ]
        rows = []
        for epoch in range(self.num_epochs):
            for batch in range(1, steps + 1):
                if epoch < freezing:  # an unfreezing epoch: a triangle of its own
                    t, total = batch, steps
                else:  # one triangle over the remaining epochs
                    t = (epoch - freezing) * steps + batch
                    total = (self.num_epochs - freezing) * steps
                factor = stlr(t, total, self.cut_frac, self.ratio)
                if self.gradual_unfreezing:
                    trainable = [d <= epoch for d in depths]
                else:
                    trainable = [True] * self.layer_groups
                rows.append(
                    {
                        "epoch": epoch,
                        "lr": [base * factor for base in bases],
                        "trainable": trainable,
                    }
                )
        return rows


ULMFIT = dict(
    config="fixtures/experiment_ulmfit.jsonnet",
    gradual_unfreezing=True,
    layer_groups=4,
    optimizer_groups=5,
)

CASES = [
    # The README's first command, `make train`, trains this config as shipped.
    # Loss ratios seen with seeds 1-10 and the shipped 13: 0.42-0.82 (plain) and 0.02-0.22
    # (ULMFiT); an untrained classifier stays at 1.0.
    Case("fixture_as_shipped", "fixtures/experiment.jsonnet", max_loss_ratio=0.9),
    Case(
        "ulmfit_as_shipped",
        **ULMFIT,
        lr=0.03,
        num_epochs=10,
        batch_size=8,
        decay_factor=0.6,
        max_loss_ratio=0.4,
    ),
    # One epoch of 10 updates with cut_frac 0.05: int(10 * 0.05) == 0, so the built-in
    # never warms up; the peak must still come, at update 1. A float ratio as well.
    Case(
        "short_triangle_float_ratio",
        "fixtures/experiment.jsonnet",
        override={"num_epochs": 1, "cut_frac": 0.05, "ratio": 7.5},
    ),
    # Gradient accumulation: 20 batches per epoch in groups of 3 are 7 updates. The
    # unfreezing epochs' triangles have int(7 * 0.1) == 0 warm-up updates in the
    # built-in; ours peak at their first update. num_epochs == layer groups: the last
    # triangle is a single epoch.
    Case(
        "ulmfit_accumulation_short_triangles",
        **ULMFIT,
        override={
            "num_epochs": 4, "accumulation": 3, "lr": 0.02,
            "cut_frac": 0.1, "ratio": 4.5, "decay_factor": 0.5,
        },
        batch_size=8,
    ),
    # Discriminative fine-tuning alone: the unmatched parameters stay in AllenNLP's
    # default group, which is then the top layer group at the full rate.
    Case(
        "discriminative_default_group_on_top",
        "fixtures/experiment.jsonnet",
        override={"num_epochs": 3, "decay_factor": 0.25, "cut_frac": 0.3},
        more_overrides={
            "trainer.optimizer.parameter_groups": [
                [["^(module\\.)?_text_field_embedder"], {}],
                [["^(module\\.)?_seq2vec_encoder"], {}],
            ],
            "trainer.learning_rate_scheduler.discriminative_fine_tuning": True,
        },
        layer_groups=3,
        optimizer_groups=3,
    ),
]


Run = Tuple[Case, Path]  # a case and the serialization directory of its training run


def read_trace(serialization_dir: Path) -> List[Dict[str, Any]]:
    """Every line of the run's trace, repeats included (a run without recover has none)."""
    return read_lines(serialization_dir / "stlr_trace.jsonl")


@pytest.fixture(scope="module", params=CASES, ids=[case.name for case in CASES])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Train each case once; its tests read the serialization directory."""
    case: Case = request.param  # type: ignore[attr-defined]
    serialization_dir = tmp_path_factory.mktemp(case.name) / "run"
    overrides = ["-o", json.dumps(case.overrides)] if case.overrides else []
    done = allennlp_train(case.config, "-s", str(serialization_dir), *overrides)
    assert done.returncode == 0, done.stderr[-5000:]
    (serialization_dir.parent / "printed.txt").write_text(done.stdout + done.stderr)
    return case, serialization_dir


def test_the_run_prints_no_download_error_and_no_traceback(run: Run) -> None:
    # `make train` runs the first case. allennlp-models, imported by every allennlp command,
    # downloads NLTK's punkt model unless `make env` installed it.
    _, serialization_dir = run
    printed = (serialization_dir.parent / "printed.txt").read_text()
    assert "[nltk_data]" not in printed and "Error loading" not in printed
    assert "Traceback" not in printed


def test_every_update_is_traced_once(run: Run) -> None:
    case, serialization_dir = run
    trace = read_trace(serialization_dir)
    expected = case.expected()
    assert [record["update"] for record in trace] == list(range(1, len(expected) + 1))
    assert [record["epoch"] for record in trace] == [row["epoch"] for row in expected]
    assert all(len(record["lr"]) == case.optimizer_groups for record in trace)


def test_learning_rates_follow_ulmfit(run: Run) -> None:
    case, serialization_dir = run
    trace = read_trace(serialization_dir)
    expected = case.expected()
    assert len(trace) == len(expected)
    for record, row in zip(trace, expected):
        got = record["lr"][: case.layer_groups]
        assert got == pytest.approx(row["lr"], rel=1e-9, abs=0.0), (
            f"update {record['update']} (epoch {record['epoch']}): {got} != {row['lr']}"
        )


def test_each_triangle_reaches_its_peak(run: Run) -> None:
    # Also where int(T * cut_frac) == 0: the warm-up then lasts one update.
    case, serialization_dir = run
    trace = read_trace(serialization_dir)
    top = case.layer_groups - 1
    freezing = case.layer_groups - 1 if case.gradual_unfreezing else 0
    triangles: Dict[int, List[float]] = {}
    for record in trace:
        triangles.setdefault(min(record["epoch"], freezing), []).append(record["lr"][top])
    assert len(triangles) == freezing + 1
    for rates in triangles.values():
        assert max(rates) == pytest.approx(case.lr, rel=1e-9)
        assert rates[-1] == pytest.approx(case.lr / case.ratio, rel=1e-9)


def test_trainable_groups_per_epoch(run: Run) -> None:
    case, serialization_dir = run
    trace = read_trace(serialization_dir)
    for record, row in zip(trace, case.expected()):
        assert record["trainable"][: case.layer_groups] == row["trainable"], (
            f"update {record['update']} (epoch {record['epoch']})"
        )


def test_training_ran_every_epoch_and_improved_the_loss(run: Run) -> None:
    case, serialization_dir = run
    metrics = json.loads((serialization_dir / "metrics.json").read_text())
    assert metrics["epoch"] == case.num_epochs - 1
    epochs = [
        json.loads((serialization_dir / f"metrics_epoch_{epoch}.json").read_text())
        for epoch in range(case.num_epochs)
    ]
    assert [e["epoch"] for e in epochs] == list(range(case.num_epochs))
    if case.max_loss_ratio is not None:
        first, last = epochs[0]["training_loss"], epochs[-1]["training_loss"]
        assert last <= case.max_loss_ratio * first, f"training loss {first} -> {last}"
        # 60 balanced dev sentences: chance is 0.5; seeds 1-10 and 13 reached 0.67-0.93.
        assert metrics["best_validation_accuracy"] >= 0.6
