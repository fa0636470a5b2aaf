"""
The benchmark scripts, end to end on tiny slices, so that they cannot rot: both data sets'
preparation, the recipes benchmark with each of its recipes (real allennlp training of
all-MiniLM-L6-v2), its summary with intervals and paired differences, the earlier ablation
harness, the overhead benchmark, and one pair of whole `allennlp train` runs.
"""
import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Tuple

import matplotlib.image
import pytest
from allennlp.common.checks import ConfigurationError

from benchmarks import ablation, overhead, prepare_data, recipes, train_overhead
from benchmarks.intervals import paired_differences, t_interval
from benchmarks.runs import duration_seconds, run_tasks
from tests.benchmarks.tasks import where_it_ran
from tests.helpers import read_lines

README = Path(__file__).resolve().parents[2] / "benchmarks" / "README.md"
PEAK = 1e-4
# all-MiniLM-L6-v2's parameters per layer group: embeddings, 6 layers, the head (classifier
# and the unused pooler), and AllenNLP's empty default group.
GROUP_PARAMETERS = [11918592] + [1774464] * 6 + [148610, 0]


# ---------------------------------------------------------------- data preparation
@pytest.mark.parametrize(
    "source, sizes",
    [("rotten_tomatoes", (16, 8, 8)), ("imdb", (12, 6, 4))],
)
def test_prepare_data_writes_disjoint_balanced_sets(
    source: str, sizes: tuple, tmp_path: Path
) -> None:
    paths = prepare_data.prepare(source, sizes, 2018, tmp_path / "a")
    sets = {name: read_lines(path) for name, path in paths.items()}
    assert {name: len(rows) for name, rows in sets.items()} == dict(
        zip(("train", "dev", "test"), sizes)
    )
    for rows in sets.values():
        assert [row["label"] for row in rows].count("1") == len(rows) // 2
    texts = [row["text"] for rows in sets.values() for row in rows]
    assert len(set(texts)) == len(texts)
    assert not any("<br" in text.lower() for text in texts)
    # Same source, sizes and seed: the same files.
    again = prepare_data.prepare(source, sizes, 2018, tmp_path / "b")
    assert all(again[n].read_text() == paths[n].read_text() for n in paths)


def test_the_sources_are_told_apart() -> None:
    rotten = prepare_data.load_texts(prepare_data.csv_path(), "rotten_tomatoes")
    imdb = prepare_data.load_texts(prepare_data.csv_path(), "imdb")
    assert {label: len(texts) for label, texts in rotten.items()} == {0: 4265, 1: 4265}
    assert {label: len(texts) for label, texts in imdb.items()} == {0: 12500, 1: 12500}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--train", "16", "--dev", "7", "--test", "8"], "--dev must be an even number"),
        (["--source", "imdb", "--train", "30000", "--dev", "2", "--test", "2"], "only 12500 exist"),
    ],
)
def test_prepare_data_rejects_bad_sizes(argv: List[str], message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=message):
        prepare_data.main(argv + ["--out", str(tmp_path)])


# ---------------------------------------------------------------- intervals
def test_t_interval_of_three_values() -> None:
    stats = t_interval([0.7, 0.8, 0.9])
    half = 4.302652729696142 * 0.1 / math.sqrt(3)  # t(0.975, 2 df) x std / sqrt(n)
    assert stats["n"] == 3
    assert stats["mean"] == pytest.approx(0.8, abs=1e-12)
    assert stats["std"] == pytest.approx(0.1, abs=1e-12)
    assert (stats["low"], stats["high"]) == pytest.approx((0.8 - half, 0.8 + half), abs=1e-9)


def test_t_interval_of_one_value_has_no_spread() -> None:
    assert t_interval([0.75]) == {"n": 1, "mean": 0.75, "std": None, "low": None, "high": None}


def test_paired_differences_use_only_shared_seeds_in_seed_order() -> None:
    assert paired_differences({2: 0.5, 0: 0.75, 1: 0.5}, {1: 0.25, 0: 0.5, 3: 1.0}) == [
        0.25,
        0.25,
    ]


# ---------------------------------------------------------------- running tasks
def test_each_task_runs_in_its_own_fresh_interpreter_with_the_threads_asked_for() -> None:
    results = list(run_tasks(where_it_ran, [1, 2, 3], jobs=2, threads=1))
    assert sorted(task for task, _, _ in results) == [1, 2, 3]
    pids = {pid for _, pid, _ in results}
    assert len(pids) == 3 and os.getpid() not in pids
    assert {threads for _, _, threads in results} == {1}


def test_one_job_runs_the_tasks_here_in_order() -> None:
    import torch

    threads = torch.get_num_threads()
    try:
        results = list(run_tasks(where_it_ran, [3, 1, 2], jobs=1, threads=1))
    finally:
        torch.set_num_threads(threads)  # the rest of the suite keeps its threads
    assert results == [(task, os.getpid(), 1) for task in (3, 1, 2)]


def test_allennlp_durations_are_read_as_seconds() -> None:
    assert duration_seconds("1:02:03.500000") == 3723.5
    assert duration_seconds("0:00:07.25") == 7.25


# ---------------------------------------------------------------- recipes benchmark
def test_the_readmes_quote_the_saved_results_as_the_harness_writes_them() -> None:
    results = README.parent / "results" / "recipes"
    saved = json.loads((results / "summary.json").read_text())
    assert (results / "summary.md").read_text() == recipes.markdown(saved)
    table = recipes.overview(saved)
    assert table in README.read_text()
    assert table in (README.parents[1] / "README.md").read_text()


def test_select_takes_the_best_dev_accuracy_and_the_first_listed_on_ties() -> None:
    grid = (0.38, 0.65, 0.8, 0.9)
    search = [
        {"value": 0.9, "best_dev_accuracy": 0.75},
        {"value": 0.38, "best_dev_accuracy": 0.5},
        {"value": 0.65, "best_dev_accuracy": 0.75},
        {"value": 0.8, "best_dev_accuracy": 0.625},
    ]
    assert recipes.select(search, grid) == 0.65


@pytest.mark.parametrize(
    "recipe, epochs, train, message",
    [
        # 8 layer groups, one per epoch: 3 epochs leave 5 groups untrained.
        ("ulmfit", 3, 480, "recipe 'ulmfit' unfreezes one of its 8 layer groups per epoch "
         "and needs --epochs >= 8, got 3"),
        # 16 sentences: 1 update per epoch, 3 in all, but 7 stages of 1 update to unfreeze.
        ("stlr_gradual", 3, 16, "recipe 'stlr_gradual' on rt unfreezes a layer group every 1 "
         "updates and needs more than \\(8 - 1\\) x 1 = 7 updates, but --epochs 3 gives 3"),
        # 480 sentences, 30 updates per epoch, every 3: 21 updates of unfreezing > 1 epoch.
        ("stlr_gradual", 0, 480, "--epochs, --jobs and --threads must be at least 1, got "
         "1, 0, 1 and 1"),
        ("stlr_gradual", 1, 16, "needs more than \\(8 - 1\\) x 1 = 7 updates, but --epochs 1"),
        ("constant", 3, 480, "unknown recipe 'constant'"),
    ],
)  # fmt: skip
def test_the_plan_is_checked_before_any_training(
    recipe: str, epochs: int, train: int, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        recipes.run_benchmark(
            tmp_path / "out", tmp_path / "data", ["rt"], [recipe], seeds=1, epochs=epochs,
            sizes=[train, 8, 8],
        )  # fmt: skip
    assert not (tmp_path / "data").exists()  # it stopped before preparing anything


def test_report_only_trains_nothing_and_shows_unfinished_searches(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    recipes.main(["--out", str(tmp_path / "out"), "--data", str(tmp_path / "data"), "--report"])
    printed = capsys.readouterr().out
    assert "\ntrain " not in printed and not (tmp_path / "out" / "runs").exists()
    summaries = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [(s["dataset"], s["recipe"]) for s in summaries] == [
        (d, r) for d in ("rt", "imdb") for r in recipes.DEFAULT_RECIPES
    ]
    assert all(s["search_runs"] == "0/4" and s["selected"] is None for s in summaries)
    assert "| stlr_gradual | search 0/4 | – |" in (tmp_path / "out" / "summary.md").read_text()


@pytest.mark.parametrize(
    "dataset, recipe, value, expected",
    [
        ("rt", "linear_with_warmup", 2e-4, {
            "trainer.optimizer.lr": 2e-4,
            "dataset_reader.tokenizer.max_length": 64,
            # 480 sentences: 30 updates per epoch, 90 in 3 epochs, 10% warm-up.
            "trainer.learning_rate_scheduler.warmup_steps": 9,
        }),
        ("imdb", "stlr", 5e-5, {
            "trainer.optimizer.lr": 5e-5, "dataset_reader.tokenizer.max_length": 128,
        }),
        ("rt", "stlr_discriminative", 0.65, {
            "trainer.optimizer.lr": 2e-4,
            "trainer.learning_rate_scheduler.decay_factor": 0.65,
        }),
        ("rt", "stlr_gradual", 0.8, {
            "trainer.optimizer.lr": 2e-4,
            "trainer.learning_rate_scheduler.decay_factor": 0.8,
            "trainer.learning_rate_scheduler.unfreeze_every_num_updates": 3,  # 30 // 8
        }),
        ("imdb", "stlr_gradual", 0.8, {
            "dataset_reader.tokenizer.max_length": 128,
            "trainer.learning_rate_scheduler.decay_factor": 0.8,
            "trainer.learning_rate_scheduler.unfreeze_every_num_updates": 2,  # 20 // 8
        }),
    ],
)  # fmt: skip
def test_each_run_gets_the_designed_settings(
    dataset: str, recipe: str, value: float, expected: Dict[str, Any], tmp_path: Path
) -> None:
    spec = recipes.DATASETS[dataset]
    data = prepare_data.prepare(spec.source, [spec.train, 2, 2], 2018, tmp_path)
    overrides = recipes.run_overrides(
        recipes.RECIPES[recipe], value, 3, 3, data, spec.max_wordpieces
    )
    assert {key: overrides[key] for key in expected} == expected
    assert overrides["trainer.num_epochs"] == 3 and overrides["random_seed"] == 16
    scheduler_keys = {k for k in overrides if k.startswith("trainer.learning_rate_scheduler.")}
    assert scheduler_keys == {k for k in expected if k.startswith("trainer.learning_rate_")}


# The tiny benchmark's two invocations: every recipe on seed 0 (its search of one value),
# then a second seed of the baseline and plain STLR, which repeats the selected values and
# gives paired differences: 6 real training runs in all.
TINY = ["--datasets", "rt", "--sizes", "48", "8", "8", "--epochs", "3"]
REPEATED = ["linear_with_warmup", "stlr"]
TINY_RUNS = [["--seeds", "1"], ["--recipes", *REPEATED, "--seeds", "2"]]


def run_tiny(out: Path, argv: List[str]) -> None:
    """`benchmarks.recipes` on 48 Rotten Tomatoes sentences (3 updates per epoch, 3 epochs),
    each recipe searching one value of its grid, each sentence cut to its first 16
    wordpieces (a quarter of the benchmark's length: this checks the harness, not the
    accuracy)."""
    import torch

    threads = torch.get_num_threads()
    patch = pytest.MonkeyPatch()
    patch.setitem(recipes.DATASETS, "rt", dataclasses.replace(recipes.DATASETS["rt"], max_wordpieces=16))
    for name in recipes.DEFAULT_RECIPES:
        recipe = recipes.RECIPES[name]
        patch.setitem(recipes.RECIPES, name, dataclasses.replace(recipe, grid=recipe.grid[1:2]))
    try:
        recipes.main(["--out", str(out / "results"), "--data", str(out / "data"), *TINY, *argv])
    finally:
        patch.undo()
        torch.set_num_threads(threads)  # the rest of the suite keeps its threads


@pytest.fixture(scope="module")
def tiny_benchmark(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The results folder; `summary_all_recipes.json` beside it is the first invocation's."""
    out = tmp_path_factory.mktemp("recipes")
    first, second = TINY_RUNS
    run_tiny(out, first)
    (out / "summary_all_recipes.json").write_text((out / "results" / "summary.json").read_text())
    (out / "summary_all_recipes.md").write_text((out / "results" / "summary.md").read_text())
    run_tiny(out, second)
    return out / "results"


def seeds_of(recipe: str) -> Tuple[int, ...]:
    return (0, 1) if recipe in REPEATED else (0,)


@pytest.mark.allennlp_train
@pytest.mark.parametrize(
    "recipe, run, peak_lr, scheduler",
    [
        ("linear_with_warmup", "lr0.0001", 1e-4, {"warmup_steps": 1}),  # 10% of 9 updates
        ("stlr", "lr0.0001", 1e-4, {"cut_frac": 0.1, "ratio": 32}),
        ("stlr_discriminative", "decay0.65", 2e-4, {"decay_factor": 0.65}),
        ("stlr_gradual", "decay0.65", 2e-4, {"decay_factor": 0.65, "gradual_unfreezing": True,
                                             "unfreeze_every_num_updates": 1}),
    ],
)  # fmt: skip
def test_each_recipe_trains_on_a_tiny_slice(
    tiny_benchmark: Path, recipe: str, run: str, peak_lr: float, scheduler: Dict[str, Any]
) -> None:
    for seed in seeds_of(recipe):
        result = json.loads(
            (tiny_benchmark / "runs" / "rt" / recipe / f"{run}_seed{seed}.json").read_text()
        )
        assert (result["recipe"], result["seed"], result["peak_lr"]) == (recipe, seed, peak_lr)
        assert result["updates_per_epoch"] == 3
        assert {k: result["scheduler"][k] for k in scheduler} == scheduler
        assert len(result["dev_accuracy_per_epoch"]) == 3
        assert result["best_dev_accuracy"] == max(result["dev_accuracy_per_epoch"])
        assert result["test_accuracy"] * 8 == round(result["test_accuracy"] * 8)
        assert result["group_parameters"] == GROUP_PARAMETERS
        assert result["cpu_seconds"] > 0
        work = tiny_benchmark / "work" / "rt" / recipe / f"{run}_seed{seed}"
        assert not list(work.glob("*.th")) and not (work / "model.tar.gz").exists()
    unrepeated = len(seeds_of(recipe))
    assert not (tiny_benchmark / "runs" / "rt" / recipe / f"{run}_seed{unrepeated}.json").exists()
    trace = read_lines(work / "stlr_trace.jsonl")
    assert [line["update"] for line in trace] == list(range(1, 10))
    if recipe != "stlr_gradual":
        assert result["frozen_update_share"] == 0.0
        assert all(all(line["trainable"]) for line in trace)
        return
    # One more group every update, from the head down: update u trains the top u groups.
    for line in trace:
        top = min(line["update"], 8)
        assert line["trainable"] == [g >= 8 - top for g in range(8)] + [True]
    frozen = sum(sum(GROUP_PARAMETERS[: 8 - u]) for u in range(1, 8))
    assert result["frozen_update_share"] == pytest.approx(
        frozen / (9 * sum(GROUP_PARAMETERS)), rel=1e-12
    )


def load_runs(results: Path, names: List[str]) -> Dict[str, Dict[int, Dict[str, Any]]]:
    return {
        name: {
            json.loads(path.read_text())["seed"]: json.loads(path.read_text())
            for path in (results / "runs" / "rt" / name).glob("*_seed*.json")
        }
        for name in names
    }


@pytest.mark.allennlp_train
def test_the_summary_has_intervals_and_paired_differences(tiny_benchmark: Path) -> None:
    summaries = {s["recipe"]: s for s in json.loads((tiny_benchmark / "summary.json").read_text())}
    assert list(summaries) == REPEATED
    runs = load_runs(tiny_benchmark, REPEATED)
    baseline = {seed: r["test_accuracy"] for seed, r in runs["linear_with_warmup"].items()}
    for name, s in summaries.items():
        tests = {seed: r["test_accuracy"] for seed, r in runs[name].items()}
        assert s["seeds"] == [0, 1] and s["test_accuracy"] == [tests[0], tests[1]]
        assert s["test"] == t_interval([tests[0], tests[1]])
        assert s["difference_vs_baseline"] == t_interval(
            [tests[0] - baseline[0], tests[1] - baseline[1]]
        )
        assert len(s["dev_accuracy_per_epoch_mean"]) == 3
        assert s["cpu_seconds_mean"] == pytest.approx(
            (runs[name][0]["cpu_seconds"] + runs[name][1]["cpu_seconds"]) / 2
        )
    assert summaries["linear_with_warmup"]["difference_vs_baseline"]["mean"] == 0.0
    table = (tiny_benchmark / "summary.md").read_text()
    assert "| linear_with_warmup | **lr 0.0001** (0.0001: " in table
    assert "| (baseline) |" in table
    # The first invocation summarised every recipe, on its one seed.
    everything = json.loads((tiny_benchmark.parent / "summary_all_recipes.json").read_text())
    assert [s["recipe"] for s in everything] == recipes.DEFAULT_RECIPES
    single = load_runs(tiny_benchmark, recipes.DEFAULT_RECIPES)
    for s in everything:
        assert s["seeds"] == [0]
        assert s["test_accuracy"] == [single[s["recipe"]][0]["test_accuracy"]]
        assert s["test"] == t_interval(s["test_accuracy"])
    gradual = next(s for s in everything if s["recipe"] == "stlr_gradual")
    assert gradual["frozen_update_share_mean"] > 0.5
    assert "| stlr_gradual | **decay 0.65** (0.65: " in (
        tiny_benchmark.parent / "summary_all_recipes.md"
    ).read_text()
    machine = json.loads((tiny_benchmark / "machine.json").read_text())
    assert [m["argv"]["seeds"] for m in machine] == [1, 2]
    assert machine[-1]["cores"] >= 1 and machine[-1]["torch"].startswith("1.12")
    assert set(machine[-1]["data_sha256"]["rt"]) == {"train", "dev", "test"}


@pytest.mark.allennlp_train
def test_a_rerun_resumes_without_training(
    tiny_benchmark: Path, capsys: pytest.CaptureFixture
) -> None:
    summary = (tiny_benchmark / "summary.json").read_text()
    capsys.readouterr()
    run_tiny(tiny_benchmark.parent, TINY_RUNS[-1])
    printed = capsys.readouterr().out
    assert printed.count("skip rt ") == 4
    assert "skip rt stlr lr0.0001_seed1 (finished)" in printed
    assert "\ntrain " not in printed
    assert (tiny_benchmark / "summary.json").read_text() == summary


# ---------------------------------------------------------------- earlier ablation
@pytest.mark.allennlp_train
def test_earlier_ablation_harness_end_to_end(tmp_path: Path) -> None:
    data = tmp_path / "data"
    prepare_data.main(["--train", "16", "--dev", "8", "--test", "8", "--out", str(data)])
    out = tmp_path / "results"
    ablation.main([
        "--train", str(data / "train.jsonl"), "--dev", str(data / "dev.jsonl"),
        "--test", str(data / "test.jsonl"), "--out", str(out),
        "--recipes", "ulmfit", "--rates", str(PEAK), "--seeds", "1", "--epochs", "8",
    ])  # fmt: skip
    result = json.loads((out / "runs" / "ulmfit" / f"lr{PEAK:g}_seed0.json").read_text())
    assert len(result["dev_accuracy_per_epoch"]) == 8
    # ULMFiT by epochs: epoch e trains the top e + 1 of the 8 layer groups.
    trace = read_lines(out / "runs/ulmfit/lr0.0001_seed0/stlr_trace.jsonl")
    for line in trace:
        assert line["trainable"] == [g >= 7 - line["epoch"] for g in range(8)] + [True]
    assert "| ulmfit | 0.0001" in (out / "summary.md").read_text()
    assert matplotlib.image.imread(str(out / "learning_curves.png")).ndim == 3


def test_earlier_ablation_rejects_missing_data(tmp_path: Path) -> None:
    data = {name: tmp_path / f"{name}.jsonl" for name in ("train", "dev", "test")}
    with pytest.raises(ConfigurationError, match="--train .*train.jsonl does not exist"):
        ablation.run_ablation(data, tmp_path, ["stlr"], [PEAK], 1, 1)


# ---------------------------------------------------------------- overhead benchmarks
@pytest.mark.parametrize("mode", list(overhead.MODES))
def test_overhead_drives_both_classes_through_the_same_schedule(mode: str) -> None:
    rates: Dict[str, List[List[float]]] = {}
    for name, factory in overhead.CLASSES.items():
        rates[name] = []
        assert overhead.time_schedule(factory, 3, mode, 20, rates[name]) > 0
    assert len(rates["ours"]) == 4  # groups + 1 epochs
    for ours, builtin in zip(rates["ours"], rates["built-in"]):
        assert ours == pytest.approx(builtin, rel=1e-9)
    # The schedules really differ by mode: discriminative rates fall below the top group.
    last = rates["ours"][-1]
    assert (last[0] < last[2]) == (mode != "plain")


def test_overhead_prints_the_readme_table(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    rows = overhead.main([
        "--groups", "1", "3", "--repeats", "2", "--steps-per-epoch", "3",
        "--json", str(tmp_path / "o.json"),
    ])  # fmt: skip
    assert [(row["groups"], row["mode"]) for row in rows] == [
        (1, "plain"), (3, "plain"), (3, "unfreezing+discriminative")
    ]
    printed = capsys.readouterr().out.splitlines()
    assert "\n".join(printed[:2]) == overhead.HEADER
    assert overhead.HEADER in README.read_text()
    assert printed[4].startswith("| 3 | gradual unfreezing + discriminative | ")
    assert json.loads((tmp_path / "o.json").read_text()) == rows
    # The README's rows are the saved results as the script prints them.
    saved = json.loads((README.parent / "results" / "overhead.json").read_text())
    assert all(overhead.table_row(row) in README.read_text() for row in saved)


def test_train_overhead_readme_table_is_the_printed_one() -> None:
    saved = json.loads((README.parent / "results" / "train_overhead.json").read_text())
    assert train_overhead.summary_table(saved) in README.read_text()


@pytest.mark.allennlp_train
def test_train_overhead_runs_ours_and_the_builtin(tmp_path: Path) -> None:
    # `train_once` raises unless the plugin served "ours" and the built-in the other run.
    result = train_overhead.main(["--pairs", "1", "--json", str(tmp_path / "train.json")])
    assert set(result["runs"]) == {"ours", "built-in"}
    for runs in result["runs"].values():
        assert len(runs) == 1 and runs[0]["train_s"] > 0 and runs[0]["cpu_s"] > 0
    assert json.loads((tmp_path / "train.json").read_text()) == result
