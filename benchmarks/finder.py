"""
The learning-rate finder (`allennlp stlr-find-lr`) against peak rates searched on dev: for
each set of the recipes benchmark (MiniLM) and of the ULMFiT LSTM benchmark whose rate
search has finished, the finder's sweep of that set's experiment, every rule's
suggestion, and its ratio to the searched best rate.

    .venv/bin/python -m benchmarks.finder --out benchmarks/results/finder
    .venv/bin/python -m benchmarks.finder --out benchmarks/results/finder --train-at-suggestion

Each set's experiment is built as its harness trains it at seed 0 (the recipes benchmark:
its config, `run_overrides` and data splits; the LSTM benchmark: `run_config`, with its
language model), with the searched best rate as `trainer.optimizer.lr`
(the sweep keeps only the groups' ratios to it), and swept in this process with the
finder's own functions (`build_trainer`, `sweep`) at the finder's default settings, on one
torch thread. Recorded per set, in `<out>/sweeps/<set>.json` (a rerun skips a recorded
set): every rule's suggestion, the searched best rate and the ratio, the finder's CPU
seconds (building the experiment and sweeping) against the mean of the search's training
runs, and the sweep's curve (rates, losses), so that other rules or smoothing can be
judged on it without sweeping again.

`--sets` picks sets by their rate searches' names (`imdb-1000_full`).
`--train-at-suggestion` then trains one run per recorded set at the suggestion of the
default rule (`rules.DEFAULT_RULE`, or `--rule`), as the finder prints it (two significant
digits), seed 0, with its harness's `train_one`: the record goes to that harness's runs
tree beside the search's runs (a rate the search trained is not trained again), and its
dev accuracy is placed among the search's. `summary.json` and `summary.md`
are rewritten from the records after every set.
"""
import argparse
import json
import statistics
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

from allennlp_stlr.tools.config import load_params
from allennlp_stlr.tools.find_lr import rules
from allennlp_stlr.tools.find_lr.command import paste_value
from allennlp_stlr.tools.find_lr.sweep import (
    CurveTooShort,
    Settings,
    Sweep,
    build_trainer,
    sweep,
)
from benchmarks import recipes, ulmfit_lstm
from benchmarks.runs import run_tasks

# The sets whose peak rate was searched on dev (benchmarks/README.md, "Learning-rate
# searches for the finder"), each as its rate search is keyed: the recipes benchmark's
# data sets are named `rt` and `imdb`, the LSTM benchmark's by their training size.
SETS: List[Dict[str, Any]] = [
    {"dataset": "rt", "recipe": "stlr"},
    {"dataset": "imdb", "recipe": "stlr"},
    {"dataset": "imdb", "recipe": "stlr_gradual", "decay": 0.8},
    {"dataset": "imdb-1000", "recipe": "full"},
    {"dataset": "imdb-1000", "recipe": "ulmfit"},
    # Reported, not counted: at 100 reviews the searches' dev accuracies are at chance.
    {"dataset": "imdb-100", "recipe": "full"},
    {"dataset": "imdb-100", "recipe": "ulmfit"},
]
EPOCHS = 3  # the recipes benchmark's
# Smoothing of the loss re-read from each recorded sweep (the finder's default is 0.98).
SMOOTHINGS = (0.9, 0.95, 0.98, 0.99)


def is_lstm(keys: Dict[str, Any]) -> bool:
    """Whether the set `keys` is the LSTM benchmark's (its data sets are `imdb-<size>`)."""
    return keys["dataset"] not in recipes.DATASETS


def counted(keys: Dict[str, Any]) -> bool:
    """Whether the set `keys` counts in the summary (the LSTM at 100 reviews does not)."""
    return keys["dataset"] != "imdb-100"


COUNTED = sum(counted(keys) for keys in SETS)


def set_label(record: Dict[str, Any]) -> str:
    """As the READMEs name the set of `record` (its keys, those of the rate search, come
    first in it): MiniLM `stlr_gradual`, decay 0.8, `imdb`; LSTM `full`, 1,000 reviews;
    LSTM `full`, 100 reviews (not counted)."""
    if is_lstm(record):
        size = int(record["dataset"].split("-")[1])
        return f"LSTM `{record['recipe']}`, {size:,} reviews" + (
            "" if counted(record) else " (not counted)"
        )
    fixed = f", decay {record['decay']:g}" if record.get("decay") is not None else ""
    return f"MiniLM `{record['recipe']}`{fixed}, `{record['dataset']}`"


class Harnesses:
    """Where each benchmark keeps its results and data: the rate searches, the experiments
    and the training runs of the sets."""

    def __init__(
        self, recipes_out: Path, data_root: Path, lstm_out: Path, lstm_data: Path,
        lstm_sizes: Sequence[int] = ulmfit_lstm.SPLIT_SIZES,
    ):  # fmt: skip
        self.recipes_out, self.data_root = recipes_out, data_root
        self.lstm_out, self.lstm_data, self.lstm_sizes = lstm_out, lstm_data, lstm_sizes
        self._data: Dict[str, Any] = {}

    def results(self, keys: Dict[str, Any]) -> Path:
        return self.lstm_out if is_lstm(keys) else self.recipes_out

    def prepare(self, sets: Sequence[Dict[str, Any]]) -> None:
        """Each harness's data splits (written if missing), and the LSTM's language model."""
        lstm = any(is_lstm(k) for k in sets)
        lm = self.lstm_out / "lm" / "model" / "model.tar.gz"
        if lstm and not lm.exists():
            raise ConfigurationError(
                f"finder: the LSTM sets need the language model at {lm}; train it with "
                "`python -m benchmarks.ulmfit_lstm --lm-only --threads 2` "
                "(benchmarks/README.md)."
            )
        minilm = sorted({k["dataset"] for k in sets if not is_lstm(k)})
        if minilm:
            self._data["minilm"] = recipes.prepare(minilm, self.data_root, None)
        if lstm:
            self._data["lstm"] = ulmfit_lstm.prepare_splits(self.lstm_data, self.lstm_sizes)

    def lstm_task(self, keys: Dict[str, Any], rate: float) -> Dict[str, Any]:
        return ulmfit_lstm.make_task(
            self.lstm_out, self._data["lstm"], keys["dataset"], keys["recipe"], rate, 0,
            ulmfit_lstm.EPOCHS,
        )  # fmt: skip

    def params(self, keys: Dict[str, Any], rate: float) -> Params:
        """The experiment of the set `keys` at peak rate `rate`, as its harness trains it
        at seed 0."""
        if is_lstm(keys):
            return Params(ulmfit_lstm.run_config(self.lstm_task(keys, rate)))
        recipe = searched_recipe(keys, rate)
        spec = recipes.DATASETS[keys["dataset"]]
        data = self._data["minilm"][keys["dataset"]]
        overrides = recipes.run_overrides(recipe, rate, 0, EPOCHS, data, spec.max_wordpieces)
        return load_params(str(recipes.CONFIGS / f"{recipe.config}.jsonnet"), json.dumps(overrides))

    def train(self, keys: Dict[str, Any], rate: float) -> Dict[str, Any]:
        """One run of the set `keys` at `rate`, seed 0, by its harness (or its record)."""
        if is_lstm(keys):
            (trained,) = run_tasks(ulmfit_lstm.train_one, [self.lstm_task(keys, rate)], 1, 1)
            return trained
        table = {keys["recipe"]: searched_recipe(keys, rate)}
        task = recipes.make_task(
            self.recipes_out, self._data["minilm"], table, EPOCHS, keys["dataset"],
            keys["recipe"], rate, 0,
        )  # fmt: skip
        (trained,) = run_tasks(recipes.train_one, [task], 1, 1)
        return trained


def searched(results: Path, keys: Dict[str, Any]) -> Dict[str, Any]:
    """The finished rate search of the set `keys`, as its harness wrote it under `results`."""
    path = results / "lr_search" / f"{recipes.search_name(keys)}.json"
    harness = "ulmfit_lstm" if is_lstm(keys) else "recipes"
    if not path.exists():
        raise ConfigurationError(
            f"finder: no rate search of {recipes.search_name(keys)} at {path}; run "
            f"`python -m benchmarks.{harness} --search-lr ...` for it first "
            "(benchmarks/README.md)."
        )
    search = json.loads(path.read_text())
    if search["best"] is None:
        raise ConfigurationError(f"finder: the rate search at {path} has not finished.")
    return search


def searched_recipe(keys: Dict[str, Any], rate: float) -> recipes.Recipe:
    """The recipe of the set `keys` as its rate search trained it, at `rate`."""
    return recipes.rate_search(
        "finder", keys["recipe"], recipes.RECIPES[keys["recipe"]], [rate], keys.get("decay")
    )


def sweep_set(
    keys: Dict[str, Any], search: Dict[str, Any], harnesses: Harnesses, work: Path
) -> Dict[str, Any]:
    """The finder's sweep of the set `keys`, built as the search trained it (seed 0)."""
    best = search["best"]
    settings = Settings()
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    trainer = build_trainer(harnesses.params(keys, best), str(work))
    cpu_built = time.process_time()
    result = sweep(trainer, settings)
    cpu_done, wall = time.process_time(), time.perf_counter() - wall_started
    suggestions = result.suggestions()
    return {
        **keys,
        "settings": asdict(settings),
        "searched_best": best,
        "search_dev_accuracy": search["dev_accuracy"],
        "training_cpu_seconds": statistics.fmean(search["cpu_seconds"].values()),
        "suggestions": suggestions,
        "ratios": {name: value / best for name, value in suggestions.items()},
        "cpu_seconds": {"build": cpu_built - cpu_started, "sweep": cpu_done - cpu_built,
                        "total": cpu_done - cpu_started},
        "wall_seconds": wall,
        "steps": len(result.losses),
        "diverged": result.diverged,
        "curve": {"rates": result.rates, "losses": result.losses},
    }  # fmt: skip


def resmoothed(record: Dict[str, Any], smoothing: float) -> Dict[str, float]:
    """Every rule's suggestion from the recorded sweep had it smoothed with `smoothing`: the
    losses are the same (smoothing does not change training), and the sweep stops where the
    divergence test would have stopped it on that smoothed curve."""
    settings = Settings(**{**record["settings"], "smoothing": smoothing})
    rates, losses = record["curve"]["rates"], record["curve"]["losses"]
    result = Sweep([], [], [], [], settings.num_steps)
    for rate, loss in zip(rates, losses):
        result.rates.append(rate)
        result.losses.append(loss)
        result.smoothed = rules.smoothed(result.losses, settings.smoothing)
        if rules.diverged(result.smoothed, settings.stopping_factor):
            break
    return result.suggestions()


def placed(dev: float, search_dev: Dict[str, float]) -> Dict[str, Any]:
    """Where the dev accuracy `dev` falls among the search's runs: its rank among them (1
    is best; ties share the better rank) and its distance from the best, in points."""
    values = list(search_dev.values())
    return {
        "rank": 1 + sum(v > dev for v in values),
        "of": len(values) + 1,
        "below_best_points": 100 * (max(values) - dev),
    }


def at_suggestion(run: Dict[str, Any], search_dev: Dict[str, float]) -> Dict[str, Any]:
    """What a record keeps of the training run at the suggestion."""
    return {
        "lr": run["value"],
        "best_dev_accuracy": run["best_dev_accuracy"],
        "cpu_seconds": run["cpu_seconds"],
        **placed(run["best_dev_accuracy"], search_dev),
    }


def record_path(out: Path, keys: Dict[str, Any]) -> Path:
    return out / "sweeps" / f"{recipes.search_name(keys)}.json"


def within(ratio: float, factor: float = 2.0) -> bool:
    """Whether a suggestion `ratio` times the searched best is within `factor` of it."""
    return 1 / factor <= ratio <= factor


def _rate(value: float) -> str:
    """A rate to two significant digits, as the READMEs write it: 1.2e-4, 1e-4."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def table(records: Sequence[Dict[str, Any]], rule: str) -> str:
    """The recorded sets: `rule`'s suggestion against the searched best, the cost, and the
    run at the suggestion (benchmarks/README.md quotes it)."""
    lines = [
        f"| set | suggestion (`{rule}`) | searched best | ratio | finder CPU s / one training "
        "run's | dev % at the suggestion (seed 0) | the search's dev % (seed 0) |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for r in records:
        found = r.get("at_suggestion")
        dev = (
            "not trained yet"
            if found is None or found["rule"] != rule
            else f"{100 * found['best_dev_accuracy']:.1f} at {_rate(found['lr'])}: rank "
            f"{found['rank']} of {found['of']}, {found['below_best_points']:.1f} points below "
            "the best"
        )
        search = ", ".join(
            f"**{100 * a:.1f}**" if float(v) == r["searched_best"] else f"{100 * a:.1f}"
            for v, a in r["search_dev_accuracy"].items()
        )
        grid = ", ".join(_rate(float(v)) for v in r["search_dev_accuracy"])
        lines.append(
            f"| {set_label(r)} | {_rate(r['suggestions'][rule])} | {_rate(r['searched_best'])} | "
            f"{r['ratios'][rule]:.2f} | {r['cpu_seconds']['total']:.0f} / "
            f"{r['training_cpu_seconds']:.0f} | {dev} | {search} (at {grid}) |"
        )
    return "\n".join(lines)


def count_line(records: Sequence[Dict[str, Any]], rule: str, planned: int = COUNTED) -> str:
    """The summary the READMEs quote: in how many of the counted sets the suggestion was
    within a factor of 2 of the searched best, which it was not within, and how many of
    the `planned` counted sets are not run yet."""
    counting = [r for r in records if counted(r)]
    count = sum(within(r["ratios"][rule]) for r in counting)
    missed = [
        f"{set_label(r)} ({r['ratios'][rule]:.2f} times)"
        for r in counting if not within(r["ratios"][rule])
    ]  # fmt: skip
    run = "" if len(counting) == planned else " run so far"
    line = (
        f"`{rule}`'s suggestion was within a factor of 2 of the searched best in {count} of "
        f"the {len(counting)} counted sets{run}"
    )
    if missed:
        line += f"; it was not in {' and '.join(missed)}"
    if len(counting) < planned:
        line += f"; {planned - len(counting)} of the {planned} are not run yet"
    return line + "."


def summary_markdown(records: Sequence[Dict[str, Any]], rule: str) -> str:
    """The table and its count; every rule's ratio; and every rule's ratio re-read from the
    recorded sweeps at other smoothings."""
    names = list(rules.RULES)
    lines = [
        table(records, rule),
        "",
        count_line(records, rule),
        "",
        "Every rule's suggestion over the searched best:",
        "",
        "| set | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
        *(f"| {set_label(r)} | " + " | ".join(f"{r['ratios'][n]:.2g}" for n in names) + " |"
          for r in records),
        "",
        "The same had the sweeps been smoothed otherwise (`resmoothed`; a less smoothed "
        "curve also stops earlier):",
        "",
        "| set | smoothing | " + " | ".join(names) + " |",
        "|---|---:|" + "---:|" * len(names),
    ]  # fmt: skip
    for r in records:
        for beta in SMOOTHINGS:
            try:
                found = resmoothed(r, beta)
                cells = [f"{found[n] / r['searched_best']:.2g}" for n in names]
            except CurveTooShort:
                cells = ["diverged too early"] * len(names)
            lines.append(f"| {set_label(r)} | {beta:g} | " + " | ".join(cells) + " |")
    lines.append("")
    return "\n".join(lines)


def recorded(out: Path) -> List[Dict[str, Any]]:
    """The records of every set of `SETS` swept so far under `out`, in the order of `SETS`."""
    paths = [record_path(out, keys) for keys in SETS]
    return [json.loads(path.read_text()) for path in paths if path.exists()]


def write_summary(out: Path, rule: str) -> str:
    """`summary.json` and `summary.md` of every recorded set (the records without their
    curves); the markdown."""
    records = recorded(out)
    text = summary_markdown(records, rule)
    brief = [{k: v for k, v in r.items() if k != "curve"} for r in records]
    (out / "summary.json").write_text(json.dumps({"rule": rule, "sets": brief}, indent=2) + "\n")
    (out / "summary.md").write_text(text)
    return text


def run(
    out: Path, harnesses: Harnesses, sets: Sequence[Dict[str, Any]], rule: str,
    train_at_suggestion: bool = False,
) -> List[Dict[str, Any]]:
    """Sweep every set not recorded yet, train at the suggestions if asked, and write the
    summary after each set; the records."""
    torch.set_num_threads(1)
    if rule not in rules.RULES:
        raise ConfigurationError(
            f"finder: unknown rule {rule!r}; choose from {', '.join(rules.RULES)}."
        )
    # All checked before any sweep.
    searches = [searched(harnesses.results(keys), keys) for keys in sets]
    harnesses.prepare(sets)
    records: List[Dict[str, Any]] = []
    for keys, search in zip(sets, searches):
        path = record_path(out, keys)
        if path.exists():
            print(f"skip the sweep of {recipes.search_name(keys)} (recorded)", flush=True)
            record = json.loads(path.read_text())
        else:
            print(f"sweep {recipes.search_name(keys)}", flush=True)
            work = out / "work" / recipes.search_name(keys)
            record = sweep_set(keys, search, harnesses, work)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(record, indent=2) + "\n")
        if train_at_suggestion and record.get("at_suggestion", {}).get("rule") != rule:
            rate = float(paste_value(record["suggestions"][rule]))
            found = at_suggestion(harnesses.train(keys, rate), search["dev_accuracy"])
            record["at_suggestion"] = {"rule": rule, **found}
            path.write_text(json.dumps(record, indent=2) + "\n")
        records.append(record)
        write_summary(out, rule)
    print(write_summary(out, rule), flush=True)
    return records


def main(argv: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/finder"))
    parser.add_argument(
        "--recipes-out", type=Path, default=Path("benchmarks/results/recipes"),
        help="the recipes benchmark's results: its rate searches, and its runs tree",
    )  # fmt: skip
    parser.add_argument("--data", type=Path, default=Path("benchmarks/data"))
    parser.add_argument(
        "--lstm-out", type=Path, default=Path("benchmarks/results/ulmfit_lstm"),
        help="the LSTM benchmark's results: its language model, rate searches and runs tree",
    )  # fmt: skip
    parser.add_argument("--lstm-data", type=Path, default=Path("benchmarks/data/ulmfit_lstm"))
    parser.add_argument(
        "--sets", nargs="+", metavar="SET", choices=[recipes.search_name(k) for k in SETS],
        help="only these sets, by their rate searches' names (default: all)",
    )  # fmt: skip
    parser.add_argument("--rule", default=rules.DEFAULT_RULE, choices=rules.RULES)
    parser.add_argument(
        "--train-at-suggestion", action="store_true",
        help="train one run (seed 0) per set at the rule's suggestion",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    harnesses = Harnesses(
        args.recipes_out.resolve(), args.data.resolve(), args.lstm_out.resolve(),
        args.lstm_data.resolve(),
    )  # fmt: skip
    sets = [k for k in SETS if args.sets is None or recipes.search_name(k) in args.sets]
    return run(args.out.resolve(), harnesses, sets, args.rule, args.train_at_suggestion)


if __name__ == "__main__":
    main()
