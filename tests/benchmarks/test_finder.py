"""
The finder benchmark's bookkeeping (`benchmarks/finder.py`): a recorded set is not swept
again, the table counts the suggestions within a factor of 2 of the searched best, and a
run at the suggestion is placed among the search's runs. No sweep, no training: the
search and the sweep's record are stand-ins written by the harnesses' own functions.
"""
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, Optional

import pytest
from allennlp.common.checks import ConfigurationError

from allennlp_stlr.tools.find_lr import rules
from allennlp_stlr.tools.find_lr.sweep import Settings, Sweep
from benchmarks import finder, recipes
from tests.helpers import ROOT

KEYS = {"dataset": "imdb", "recipe": "stlr_gradual", "decay": 0.8}
LSTM = {"dataset": "imdb-1000", "recipe": "ulmfit"}
DEV = {1e-4: 0.8, 2e-4: 0.85, 4e-4: 0.75}


def harnesses(tmp_path: Path, recipes_out: Optional[Path] = None) -> finder.Harnesses:
    return finder.Harnesses(
        recipes_out or tmp_path / "recipes", tmp_path / "data", tmp_path / "lstm",
        tmp_path / "data" / "ulmfit_lstm",
    )  # fmt: skip


def write_search(recipes_out: Path) -> Dict[str, Any]:
    """A finished rate search of `KEYS` (best 2e-4), as the recipes harness writes it."""
    runs = [
        {"value": v, "best_dev_accuracy": a, "cpu_seconds": 100.0 + i}
        for i, (v, a) in enumerate(DEV.items())
    ]
    summary = recipes.rate_search_summary(KEYS, list(DEV), runs)
    recipes.write_rate_search(recipes_out / "lr_search", summary)
    return summary


def sweep_record(suggestion: float) -> Dict[str, Any]:
    """What `sweep_set` records, with each rule suggesting `suggestion` times 1, 2, 4, 8."""
    suggestions = {name: suggestion * 2**i for i, name in enumerate(rules.RULES)}
    return {
        **KEYS,
        "searched_best": 2e-4,
        "search_dev_accuracy": {f"{v:g}": a for v, a in DEV.items()},
        "training_cpu_seconds": 101.0,
        "suggestions": suggestions,
        "ratios": {name: value / 2e-4 for name, value in suggestions.items()},
        "cpu_seconds": {"build": 10.0, "sweep": 50.0, "total": 60.0},
        "settings": asdict(Settings()),
        "curve": {"rates": RATES, "losses": SPIKE},
    }


RATES = rules.exponential_rates(1e-7, 10.0, 100)
# A slowly falling loss with one spike at step 50 that only an unsmoothed curve takes for
# divergence.
SPIKE = [1.0 - 0.001 * i for i in range(50)] + [5.0] + [0.95 - 0.001 * i for i in range(49)]


def test_a_recorded_sweep_is_read_again_at_another_smoothing() -> None:
    record = sweep_record(3e-4)
    # Unsmoothed, the spike stops the sweep: the rules read steps 10 .. 45.
    assert finder.resmoothed(record, 0.0)["minimum"] == RATES[45] / 10
    smoothed = finder.resmoothed(record, 0.98)
    expected = Sweep([], [], [], [], 100, RATES, SPIKE, rules.smoothed(SPIKE, 0.98)).suggestions()
    assert smoothed == expected and smoothed["minimum"] > RATES[45] / 10


def test_a_recorded_set_is_not_swept_again_and_the_summary_counts_it(tmp_path: Path) -> None:
    recipes_out = tmp_path / "recipes"
    write_search(recipes_out)
    out = tmp_path / "finder"
    recorded = sweep_record(3e-4)
    finder.record_path(out, KEYS).parent.mkdir(parents=True)
    finder.record_path(out, KEYS).write_text(json.dumps(recorded))
    records = finder.run(out, harnesses(tmp_path, recipes_out), [KEYS], "valley")
    assert records == [recorded]
    assert not (out / "work").exists()  # nothing was built
    table = (out / "summary.md").read_text()
    assert (
        "| MiniLM `stlr_gradual`, decay 0.8, `imdb` | 3e-4 | 2e-4 | 1.50 | 60 / 101 | "
        "not trained yet | 80.0, **85.0**, 75.0 (at 1e-4, 2e-4, 4e-4) |"
    ) in table
    assert (
        "`valley`'s suggestion was within a factor of 2 of the searched best in 1 of the 1 "
        "counted sets run so far; 4 of the 5 are not run yet."
    ) in table
    assert "| MiniLM `stlr_gradual`, decay 0.8, `imdb` | 1.5 | 3 | 6 | 12 |" in table
    # Another rule: 6 times the searched best is not within a factor of 2, and is named.
    assert finder.count_line(records, "steepest", 1) == (
        "`steepest`'s suggestion was within a factor of 2 of the searched best in 0 of the 1 "
        "counted sets; it was not in MiniLM `stlr_gradual`, decay 0.8, `imdb` (6.00 times)."
    )
    # A set at 100 LSTM reviews is shown, and not counted.
    reported = dict(recorded, dataset="imdb-100", recipe="full")
    assert finder.count_line([records[0], reported], "steepest", 1) == (
        finder.count_line(records, "steepest", 1)
    )
    assert "| LSTM `full`, 100 reviews (not counted) | 3e-4 |" in finder.table([reported], "valley")
    # The run at the suggestion, once trained, is placed among the search's.
    records[0]["at_suggestion"] = {"rule": "valley", **finder.at_suggestion(
        {"value": 3e-4, "best_dev_accuracy": 0.8, "cpu_seconds": 99.0}, recorded["search_dev_accuracy"]
    )}  # fmt: skip
    assert "| 80.0 at 3e-4: rank 2 of 4, 5.0 points below the best |" in finder.table(records, "valley")
    assert "curve" not in json.loads((out / "summary.json").read_text())["sets"][0]
    assert "| MiniLM `stlr_gradual`, decay 0.8, `imdb` | 0.98 | " in table


def test_the_readmes_quote_the_saved_summary() -> None:
    saved = json.loads((ROOT / "benchmarks" / "results" / "finder" / "summary.json").read_text())
    assert finder.table(saved["sets"], saved["rule"]) in (ROOT / "benchmarks" / "README.md").read_text()
    summary = finder.count_line(saved["sets"], saved["rule"])
    assert summary in (ROOT / "benchmarks" / "README.md").read_text()
    assert summary in " ".join((ROOT / "README.md").read_text().split())


@pytest.mark.parametrize(
    "dev, rank, below",
    [(0.9, 1, -5.0), (0.85, 1, 0.0), (0.8, 2, 5.0), (0.7, 4, 15.0)],
)
def test_a_run_at_the_suggestion_is_placed_among_the_searchs_runs(
    dev: float, rank: int, below: float
) -> None:
    found = finder.placed(dev, {f"{v:g}": a for v, a in DEV.items()})
    assert (found["rank"], found["of"]) == (rank, 4)
    assert found["below_best_points"] == pytest.approx(below)


@pytest.mark.parametrize("ratio, expected", [(0.5, True), (2.0, True), (0.49, False), (2.01, False)])
def test_within_a_factor_of_2_counts_both_ends(ratio: float, expected: bool) -> None:
    assert finder.within(ratio) is expected


def test_a_set_without_a_finished_search_stops_before_any_sweep(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"no rate search of imdb_stlr_gradual_decay0.8 .*benchmarks.recipes --search-lr",
    ):
        finder.run(tmp_path / "finder", harnesses(tmp_path), [KEYS, LSTM], "valley")
    assert not (tmp_path / "data").exists()


def test_an_lstm_set_without_its_language_model_stops_before_any_sweep(tmp_path: Path) -> None:
    write_search(tmp_path / "recipes")
    summary = recipes.rate_search_summary(
        LSTM, [0.01, 0.02, 0.04],
        [{"value": v, "best_dev_accuracy": a, "cpu_seconds": 80.0}
         for v, a in [(0.01, 0.6), (0.02, 0.7), (0.04, 0.65)]],
    )  # fmt: skip
    recipes.write_rate_search(tmp_path / "lstm" / "lr_search", summary)
    with pytest.raises(ConfigurationError, match=r"the LSTM sets need the language model at"):
        finder.run(tmp_path / "finder", harnesses(tmp_path), [KEYS, LSTM], "valley")
    assert not (tmp_path / "data").exists() and not (tmp_path / "finder" / "work").exists()


@pytest.mark.parametrize(
    "keys, label",
    [(KEYS, "MiniLM `stlr_gradual`, decay 0.8, `imdb`"), ({"dataset": "rt", "recipe": "stlr"},
     "MiniLM `stlr`, `rt`"), (LSTM, "LSTM `ulmfit`, 1,000 reviews"),
     ({"dataset": "imdb-100", "recipe": "full"}, "LSTM `full`, 100 reviews (not counted)")],
)  # fmt: skip
def test_each_set_is_named_as_the_readmes_name_it(keys: Dict[str, Any], label: str) -> None:
    assert finder.set_label(keys) == label
    assert keys in finder.SETS
