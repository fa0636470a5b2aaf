"""
The harnesses' peak-rate search (`--search-lr`): the grid is extended by its end step while
the best rate is one of its ends, each search is summarized, and a recipe that searches
`decay_factor` otherwise keeps a fixed one. No training: the runs are stand-ins.
"""
import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
from allennlp.common.checks import ConfigurationError

from benchmarks import prepare_data, recipes, ulmfit_lstm
from tests.benchmarks.helpers import assert_refused


def trainer(dev: Dict[float, float], asked: List[List[float]]) -> Any:
    """A stand-in for training seed 0 at some rates: each run's record from `dev`."""

    def train(values: List[float]) -> List[Dict[str, Any]]:
        asked.append(list(values))
        return [
            {"value": v, "best_dev_accuracy": dev[v], "cpu_seconds": 10 * v} for v in values
        ]

    return train


@pytest.mark.parametrize(
    "dev, grid, asked",
    [
        # The best inside: the grid as given.
        ({1.0: 0.5, 2.0: 0.7, 4.0: 0.6}, [1.0, 2.0, 4.0], [[1.0, 2.0, 4.0]]),
        # Best at the top, twice: two rates above, the end step (2x) apart.
        ({1.0: 0.5, 2.0: 0.6, 4.0: 0.7, 8.0: 0.8, 16.0: 0.75}, [1.0, 2.0, 4.0, 8.0, 16.0],
         [[1.0, 2.0, 4.0], [8.0], [16.0]]),
        # Best at the bottom: one rate below; the step of a mixed grid is that of its end.
        ({0.5: 0.6, 1.0: 0.7, 2.0: 0.5, 6.0: 0.5}, [0.5, 1.0, 2.0, 6.0],
         [[1.0, 2.0, 6.0], [0.5]]),
        # A tie at the top goes to the rate listed first, which is inside.
        ({1.0: 0.5, 2.0: 0.7, 4.0: 0.7}, [1.0, 2.0, 4.0], [[1.0, 2.0, 4.0]]),
        # One rate: one run, nothing to extend.
        ({1.0: 0.5}, [1.0], [[1.0]]),
    ],
)  # fmt: skip
def test_the_grid_is_extended_while_the_best_rate_is_an_end(
    dev: Dict[float, float], grid: List[float], asked: List[List[float]]
) -> None:
    calls: List[List[float]] = []
    start = [v for v in grid if v in asked[0]]
    found, results = recipes.search_rates(start, trainer(dev, calls))
    assert calls == asked
    assert found == grid and [r["value"] for r in results] == grid


def test_the_extensions_stop_at_the_cap_and_the_rates_stay_round() -> None:
    rising = {5e-5 * 2**i: 0.5 + 0.01 * i for i in range(10)}
    found, _ = recipes.search_rates([5e-5, 1e-4], trainer(rising, []))
    assert len(found) == 2 + recipes.EXTENSIONS
    assert [f"{v:g}" for v in found] == ["5e-05", "0.0001", "0.0002", "0.0004", "0.0008", "0.0016"]


def test_a_report_extends_nothing_it_has_no_run_for() -> None:
    finished = [{"value": 1.0, "best_dev_accuracy": 0.5}, {"value": 2.0, "best_dev_accuracy": 0.7}]
    found, results = recipes.search_rates([1.0, 2.0], lambda values: finished)
    assert found == [1.0, 2.0, 4.0] and results == finished


def test_each_search_is_summarized_with_its_grid_and_whether_the_best_is_inside(
    tmp_path: Path,
) -> None:
    calls: List[List[float]] = []
    dev = {1e-4: 0.5, 2e-4: 0.75, 4e-4: 0.625, 1e-2: 0.5, 2e-2: 0.625}
    sets = [
        {"dataset": "imdb", "recipe": "stlr_gradual", "decay": 0.8},
        {"dataset": "imdb-1000", "recipe": "full"},
    ]
    grids = {"stlr_gradual": [1e-4, 2e-4, 4e-4], "full": [1e-2, 2e-2]}

    def train(keys: Dict[str, Any], values: List[float]) -> List[Dict[str, Any]]:
        return trainer(dev, calls)([v for v in values if v in dev])

    for keys in sets:
        recipes.rate_searches(tmp_path, grids[keys["recipe"]], [keys], train)
    gradual = json.loads((tmp_path / "imdb_stlr_gradual_decay0.8.json").read_text())
    assert gradual == {
        "dataset": "imdb", "recipe": "stlr_gradual", "decay": 0.8,
        "grid": [1e-4, 2e-4, 4e-4],
        "dev_accuracy": {"0.0001": 0.5, "0.0002": 0.75, "0.0004": 0.625},
        "cpu_seconds": {"0.0001": 0.001, "0.0002": 0.002, "0.0004": 0.004},
        "complete": True, "best": 2e-4, "inside": True,
    }  # fmt: skip
    assert "| 0.0002 | 75.0 | 0 |" in (tmp_path / "imdb_stlr_gradual_decay0.8.md").read_text()
    # The top was best, and the rate above it (0.04) has no run: not finished.
    full = json.loads((tmp_path / "imdb-1000_full.json").read_text())
    assert (full["grid"], full["complete"], full["best"], full["inside"]) == (
        [1e-2, 2e-2, 4e-2], False, None, False,
    )  # fmt: skip
    assert "search not finished" in (tmp_path / "imdb-1000_full.md").read_text()


def test_a_rate_search_of_a_decay_recipe_fixes_its_decay_factor(tmp_path: Path) -> None:
    spec = recipes.DATASETS["imdb"]
    data = prepare_data.prepare(spec.source, [spec.train, 2, 2], 2018, tmp_path)
    searched = recipes.rate_search(
        "recipes", "stlr_gradual", recipes.RECIPES["stlr_gradual"], [1e-4, 2e-4], 0.8
    )
    overrides = recipes.run_overrides(searched, 4e-4, 0, 3, data, spec.max_wordpieces)
    assert overrides["trainer.optimizer.lr"] == 4e-4
    assert overrides["trainer.learning_rate_scheduler.decay_factor"] == 0.8
    assert overrides["trainer.learning_rate_scheduler.unfreeze_every_num_updates"] == 2
    assert recipes.run_name(searched, 4e-4, 0) == "lr0.0004_decay0.8_seed0"
    # The same run as the recipe's own at decay 0.8 with its fixed rate 2e-4.
    assert recipes.run_overrides(searched, 2e-4, 0, 3, data, 128) == recipes.run_overrides(
        recipes.RECIPES["stlr_gradual"], 0.8, 0, 3, data, 128
    )
    # A recipe that searches the rate anyway: the same run names as its own search.
    plain = recipes.rate_search("recipes", "stlr", recipes.RECIPES["stlr"], [1e-4], None)
    assert recipes.run_name(plain, 1e-4, 0) == "lr0.0001_seed0"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--recipes", "stlr_gradual", "--search-lr", "1e-4,2e-4"],
         "recipe 'stlr_gradual' searches decay_factor: a rate search needs it fixed"),
        (["--recipes", "stlr", "--search-lr", "1e-4,2e-4", "--decay", "0.8"],
         "recipe 'stlr' has no decay_factor to fix"),
        (["--recipes", "stlr", "--search-lr", "2e-4,1e-4"], "takes rising rates > 0"),
    ],
)  # fmt: skip
def test_the_recipes_harness_refuses_a_search_it_cannot_run(argv: List[str], message: str, tmp_path: Path) -> None:
    out = ["--out", str(tmp_path / "out"), "--data", str(tmp_path / "data")]
    assert_refused(recipes.main, out + argv, message, tmp_path / "data")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--recipes", "full", "--search-lr", "0.01", "--search-sizes", "500"],
         "--search-sizes must be training sizes of the benchmark \\(100, 1000\\)"),
        (["--recipes", "ulmfit", "ulmfit_decay", "--search-lr", "0.01"],
         "recipe 'ulmfit_decay' searches decay_factor"),
    ],
)  # fmt: skip
def test_the_lstm_harness_refuses_a_search_it_cannot_run(
    argv: List[str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ulmfit_lstm.main(
            ["--out", str(tmp_path / "out"), "--data", str(tmp_path / "data"), *argv]
        )
    assert not (tmp_path / "data").exists()
