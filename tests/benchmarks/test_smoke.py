"""
The benchmark scripts, end to end on a tiny slice, so that they cannot rot: the data
split, the ablation harness with the ULMFiT recipe and a baseline (real allennlp training
of all-MiniLM-L6-v2), the overhead benchmark with a handful of repetitions, and one pair
of whole `allennlp train` runs, ours and the built-in.
"""
import json
from pathlib import Path
from typing import Dict, List

import matplotlib.image
import pytest
from allennlp.common.checks import ConfigurationError

from benchmarks import ablation, overhead, prepare_data, train_overhead

PEAK = 1e-4
EPOCHS = 8  # one per layer group, as gradual unfreezing requires


def read_jsonl(path: Path) -> List[Dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data")
    prepare_data.main(["--train", "16", "--dev", "8", "--test", "8", "--out", str(out)])
    return out


def test_prepare_data_writes_disjoint_balanced_sets(tiny_data: Path, tmp_path: Path) -> None:
    sets = {name: read_jsonl(tiny_data / f"{name}.jsonl") for name in ("train", "dev", "test")}
    assert {name: len(rows) for name, rows in sets.items()} == {"train": 16, "dev": 8, "test": 8}
    for rows in sets.values():
        assert sorted(row["label"] for row in rows).count("1") == len(rows) // 2
    texts = [row["text"] for rows in sets.values() for row in rows]
    assert len(set(texts)) == len(texts)
    # Same sizes and seed, same split.
    prepare_data.main(["--train", "16", "--dev", "8", "--test", "8", "--out", str(tmp_path)])
    assert (tmp_path / "train.jsonl").read_text() == (tiny_data / "train.jsonl").read_text()


def test_prepare_data_rejects_odd_sizes(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="--dev must be an even number"):
        prepare_data.main(["--train", "16", "--dev", "7", "--test", "8", "--out", str(tmp_path)])


def test_ablation_harness_end_to_end(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "results"
    argv = [
        "--train", str(tiny_data / "train.jsonl"),
        "--dev", str(tiny_data / "dev.jsonl"),
        "--test", str(tiny_data / "test.jsonl"),
        "--out", str(out),
        "--recipes", "linear_with_warmup", "ulmfit",
        "--rates", str(PEAK),
        "--seeds", "1",
        "--epochs", str(EPOCHS),
    ]  # fmt: skip
    ablation.main(argv)

    for recipe in ("linear_with_warmup", "ulmfit"):
        result = json.loads((out / "runs" / recipe / f"lr{PEAK:g}_seed0.json").read_text())
        assert result["recipe"] == recipe and result["peak_lr"] == PEAK
        assert len(result["dev_accuracy_per_epoch"]) == EPOCHS
        assert 0 <= result["best_epoch"] < EPOCHS
        assert result["best_dev_accuracy"] == max(result["dev_accuracy_per_epoch"])
        assert result["test_accuracy"] * 8 == pytest.approx(round(result["test_accuracy"] * 8))
        # The weights are deleted once the result is recorded.
        assert not list((out / "runs" / recipe).rglob("*.th"))

    # 16 sentences in batches of 16: one update per epoch, so 10% warm-up is 1 update.
    config = json.loads((out / "runs/linear_with_warmup/lr0.0001_seed0/config.json").read_text())
    assert config["trainer"]["learning_rate_scheduler"]["warmup_steps"] == 1
    assert config["trainer"]["optimizer"]["lr"] == PEAK

    # ULMFiT: epoch e trains the top e + 1 of the 8 layer groups (the 9th param group is
    # AllenNLP's empty default group); rates fall by 0.38 per group below the head.
    trace = read_jsonl(out / "runs/ulmfit/lr0.0001_seed0/stlr_trace.jsonl")
    assert [line["epoch"] for line in trace] == list(range(EPOCHS))
    for line in trace:
        unfrozen = line["epoch"] + 1
        assert line["trainable"] == [g >= 8 - unfrozen for g in range(8)] + [True]
    first = trace[0]["lr"]  # a one-update triangle is at its peak
    assert first[7] == PEAK
    assert first[:8] == pytest.approx([PEAK * 0.38 ** (7 - g) for g in range(8)], rel=1e-12)

    summary = {s["recipe"]: s for s in json.loads((out / "summary.json").read_text())}
    assert set(summary) == {"linear_with_warmup", "ulmfit"}
    assert summary["ulmfit"]["peak_lr"] == PEAK and summary["ulmfit"]["seeds"] == [0]
    assert "| ulmfit | 0.0001" in (out / "summary.md").read_text()
    assert matplotlib.image.imread(str(out / "learning_curves.png")).ndim == 3

    # A rerun resumes: finished runs are skipped, not trained again.
    capsys.readouterr()
    ablation.main(argv)
    printed = capsys.readouterr().out
    assert "skip linear_with_warmup lr0.0001_seed0 (finished)" in printed
    assert "skip ulmfit lr0.0001_seed0 (finished)" in printed
    assert "\ntrain " not in printed


def test_select_rate_uses_dev_accuracy_and_prefers_the_smaller_rate_on_ties() -> None:
    search = [
        {"peak_lr": 3e-4, "best_dev_accuracy": 0.75},
        {"peak_lr": 1e-4, "best_dev_accuracy": 0.75},
        {"peak_lr": 1e-3, "best_dev_accuracy": 0.5},
    ]
    assert ablation.select_rate(search) == 1e-4


def test_ablation_rejects_missing_data(tmp_path: Path) -> None:
    data = {name: tmp_path / f"{name}.jsonl" for name in ("train", "dev", "test")}
    with pytest.raises(ConfigurationError, match="--train .*train.jsonl does not exist"):
        ablation.run_ablation(data, tmp_path, ["stlr"], [PEAK], 1, 1)


def test_overhead_benchmark_runs_both_schedulers() -> None:
    rows = overhead.main(["--groups", "1", "3", "--repeats", "2", "--steps-per-epoch", "3"])
    layouts = [(row["groups"], row["mode"]) for row in rows]
    # Unfreezing needs at least two layer groups, so one layout is left out.
    assert layouts == [(1, "plain"), (3, "plain"), (3, "unfreezing+discriminative")]
    for row in rows:
        assert row["ours_ns"] > 0 and row["builtin_ns"] > 0
        assert row["ratio"] == row["ours_ns"] / row["builtin_ns"]


def test_train_overhead_runs_ours_and_the_builtin(tmp_path: Path) -> None:
    # `train_once` raises unless the plugin served "ours" and the built-in the other run.
    result = train_overhead.main(["--pairs", "1", "--json", str(tmp_path / "train.json")])
    assert set(result["runs"]) == {"ours", "built-in"}
    for runs in result["runs"].values():
        assert len(runs) == 1 and runs[0]["train_s"] > 0 and runs[0]["cpu_s"] > 0
    saved = json.loads((tmp_path / "train.json").read_text())
    assert saved["median_ratio"]["train_s"] == pytest.approx(
        result["runs"]["ours"][0]["train_s"] / result["runs"]["built-in"][0]["train_s"]
    )
