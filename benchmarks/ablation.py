"""
A ULMFiT-style ablation: the recipes of `configs/ablation/` fine-tune the same pretrained
transformer on the same text-classification data, with the same epochs and the same
peak-rate search budget.

    .venv/bin/python -m benchmarks.ablation \
        --train benchmarks/data/train.jsonl --dev benchmarks/data/dev.jsonl \
        --test benchmarks/data/test.jsonl --out benchmarks/results \
        --rates 1e-4 3e-4 --seeds 3

Protocol, identical for every recipe:

1. Search: one run (seed 0) per candidate peak rate in `--rates`.
2. Select: the rate with the best dev accuracy (ties: the smaller rate). Dev only; the
   test set plays no part in any choice.
3. Repeat the selected rate with seeds 1 .. `--seeds` - 1 (seed 0 is reused).

Every run trains `--epochs` epochs; the weights of its best dev epoch are evaluated on
test (AllenNLP's default, which is also how the paper's baselines chose their epoch).
Each finished run is written to `<out>/runs/<recipe>/lr<rate>_seed<seed>.json` at once,
and a rerun skips it, so an interrupted ablation resumes where it stopped. The summary
(`summary.json`, `summary.md`) and the learning curves (`learning_curves.png`) are
rewritten from whatever runs have finished.
"""
import argparse
import json
import logging
import math
import os
import statistics
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from allennlp.commands.train import train_model_from_file  # noqa: E402
from allennlp.common import Params  # noqa: E402
from allennlp.common.checks import ConfigurationError  # noqa: E402

import allennlp_stlr  # noqa: E402,F401  (registers "slanted_triangular")
from benchmarks.local_model import model_dir  # noqa: E402
from benchmarks.runs import duration_seconds, run_tasks  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs" / "ablation"
RECIPES = ["constant", "linear_with_warmup", "stlr", "stlr_discriminative", "ulmfit"]
SEED_BASE = 13
# Files a finished run no longer needs: weights and checkpoints (~90 MB each).
_HEAVY = ("*.th", "model.tar.gz")

logger = logging.getLogger(__name__)


def count_lines(path: Path) -> int:
    with open(path, encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def run_name(rate: float, seed: int) -> str:
    return f"lr{rate:g}_seed{seed}"


def overrides_for(
    recipe: str, data: Dict[str, Path], rate: float, seed: int, epochs: int
) -> Dict[str, Any]:
    """Dotted-key `--overrides` for one run (AllenNLP replaces whole dicts otherwise)."""
    overrides: Dict[str, Any] = {
        "train_data_path": str(data["train"]),
        "validation_data_path": str(data["dev"]),
        "test_data_path": str(data["test"]),
        "evaluate_on_test": True,
        "trainer.num_epochs": epochs,
        "trainer.optimizer.lr": rate,
        "random_seed": SEED_BASE + seed,
        "numpy_seed": SEED_BASE + seed,
        "pytorch_seed": SEED_BASE + seed,
    }
    params = Params.from_file(str(CONFIGS / f"{recipe}.jsonnet"))
    scheduler = params["trainer"].get("learning_rate_scheduler", {})
    if scheduler.get("type") == "linear_with_warmup":
        # Warm up over the first 10% of updates, as STLR's cut_frac = 0.1 does.
        batch_size = params["data_loader"]["batch_sampler"]["batch_size"]
        per_epoch = math.ceil(count_lines(data["train"]) / batch_size)
        overrides["trainer.learning_rate_scheduler.warmup_steps"] = max(
            1, int(0.1 * per_epoch * epochs)
        )
    return overrides


def train_one(
    recipe: str, data: Dict[str, Path], rate: float, seed: int, epochs: int, out: Path
) -> Dict[str, Any]:
    """Train one run (or load its finished result) and return its result record."""
    result_path = out / "runs" / recipe / f"{run_name(rate, seed)}.json"
    if result_path.exists():
        print(f"skip {recipe} {run_name(rate, seed)} (finished)", flush=True)
        return json.loads(result_path.read_text())
    serialization_dir = out / "runs" / recipe / run_name(rate, seed)
    overrides = overrides_for(recipe, data, rate, seed, epochs)
    print(f"train {recipe} {run_name(rate, seed)}", flush=True)
    started = time.perf_counter()
    train_model_from_file(
        str(CONFIGS / f"{recipe}.jsonnet"),
        str(serialization_dir),
        overrides=json.dumps(overrides),
        force=True,
        file_friendly_logging=True,
    )
    wall = time.perf_counter() - started
    metrics = json.loads((serialization_dir / "metrics.json").read_text())
    dev_curve = [
        json.loads((serialization_dir / f"metrics_epoch_{epoch}.json").read_text())[
            "validation_accuracy"
        ]
        for epoch in range(epochs)
    ]
    result = {
        "recipe": recipe,
        "peak_lr": rate,
        "seed": seed,
        "epochs": epochs,
        "dev_accuracy_per_epoch": dev_curve,
        "best_epoch": metrics["best_epoch"],
        "best_dev_accuracy": metrics["best_validation_accuracy"],
        "test_accuracy": metrics["test_accuracy"],
        "train_seconds": duration_seconds(metrics["training_duration"]),
        "wall_seconds": wall,
    }
    for pattern in _HEAVY:
        for path in serialization_dir.glob(pattern):
            path.unlink()
    result_path.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"done {recipe} {run_name(rate, seed)}: dev {result['best_dev_accuracy']:.4f} "
        f"test {result['test_accuracy']:.4f} ({wall:.0f} s)",
        flush=True,
    )
    return result


def select_rate(search: Sequence[Dict[str, Any]]) -> float:
    """The searched rate with the best dev accuracy; ties go to the smaller rate."""
    return min(search, key=lambda r: (-r["best_dev_accuracy"], r["peak_lr"]))["peak_lr"]


def summarize(
    recipe: str, search: List[Dict[str, Any]], finals: List[Dict[str, Any]]
) -> Dict[str, Any]:
    """One recipe: its search, and test accuracy and dev curves over the finished seeds."""
    tests = [r["test_accuracy"] for r in finals]
    curves = [r["dev_accuracy_per_epoch"] for r in finals]
    return {
        "recipe": recipe,
        "search_dev_accuracy": {f"{r['peak_lr']:g}": r["best_dev_accuracy"] for r in search},
        "peak_lr": finals[0]["peak_lr"] if finals else None,
        "seeds": [r["seed"] for r in finals],
        "test_accuracy": tests,
        "test_mean": statistics.mean(tests) if tests else None,
        "test_std": statistics.stdev(tests) if len(tests) > 1 else 0.0,
        "dev_accuracy_per_epoch_mean": [statistics.mean(c) for c in zip(*curves)],
        "best_epochs": [r["best_epoch"] for r in finals],
        "train_seconds_mean": statistics.mean(r["train_seconds"] for r in finals)
        if finals
        else None,
    }


def write_report(
    summaries: List[Dict[str, Any]], finals: Dict[str, List[Dict[str, Any]]], out: Path
) -> None:
    """`summary.json`, `summary.md` (tables) and `learning_curves.png` under `out`."""
    (out / "summary.json").write_text(json.dumps(summaries, indent=2) + "\n")
    lines = [
        "| recipe | peak lr (dev search) | test accuracy, mean ± std | seeds | best epochs | "
        "train s/run |",
        "|---|---|---|---|---|---|",
    ]
    for s in summaries:
        search = ", ".join(f"{lr}: {acc:.3f}" for lr, acc in s["search_dev_accuracy"].items())
        if s["test_mean"] is None:
            lines.append(f"| {s['recipe']} | ({search}) | – | 0 | – | – |")
            continue
        lines.append(
            f"| {s['recipe']} | {s['peak_lr']:g} ({search}) | "
            f"{100 * s['test_mean']:.1f} ± {100 * s['test_std']:.1f} | {len(s['seeds'])} | "
            f"{', '.join(str(e + 1) for e in s['best_epochs'])} | {s['train_seconds_mean']:.0f} |"
        )
    lines += ["", "Dev accuracy per epoch (mean over seeds at the selected rate):", ""]
    epochs = max((len(s["dev_accuracy_per_epoch_mean"]) for s in summaries), default=0)
    lines.append("| recipe | " + " | ".join(str(e + 1) for e in range(epochs)) + " |")
    lines.append("|---|" + "---|" * epochs)
    for s in summaries:
        cells = [f"{100 * a:.1f}" for a in s["dev_accuracy_per_epoch_mean"]]
        lines.append(f"| {s['recipe']} | " + " | ".join(cells) + " |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    plot_curves(finals, out / "learning_curves.png")


def plot_curves(finals: Dict[str, List[Dict[str, Any]]], path: Path) -> None:
    """Dev accuracy per epoch: the mean over seeds, shaded from the lowest to the highest."""
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for recipe, runs in finals.items():
        if not runs:
            continue
        curves = list(zip(*(r["dev_accuracy_per_epoch"] for r in runs)))
        epochs = list(range(1, len(curves) + 1))
        axes.plot(epochs, [statistics.mean(c) for c in curves], marker="o", label=recipe)
        axes.fill_between(epochs, [min(c) for c in curves], [max(c) for c in curves], alpha=0.15)
    axes.set_xlabel("epoch")
    axes.set_ylabel("dev accuracy")
    axes.set_title("Dev accuracy per epoch (mean, min–max over seeds)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _train_task(task: Tuple[str, Dict[str, Path], float, int, int, Path]) -> Dict[str, Any]:
    return train_one(*task)


def run_ablation(
    data: Dict[str, Path],
    out: Path,
    recipes: Sequence[str],
    rates: Sequence[float],
    seeds: int,
    epochs: int,
    jobs: int = 1,
    threads: int = 1,
) -> List[Dict[str, Any]]:
    """Search, select and repeat for every recipe; returns the per-recipe summaries."""
    for name, path in data.items():
        if not path.exists():
            raise ConfigurationError(f"ablation: --{name} {path} does not exist.")
    for recipe in recipes:
        if recipe not in RECIPES:
            raise ConfigurationError(
                f"ablation: unknown recipe {recipe!r}; choose from {', '.join(RECIPES)}."
            )
    if seeds < 1 or jobs < 1 or threads < 1:
        raise ConfigurationError(
            f"ablation: --seeds, --jobs and --threads must be at least 1, got "
            f"{seeds}, {jobs} and {threads}."
        )
    out.mkdir(parents=True, exist_ok=True)
    searches: Dict[str, List[Dict[str, Any]]] = {recipe: [] for recipe in recipes}
    finals: Dict[str, List[Dict[str, Any]]] = {recipe: [] for recipe in recipes}

    def report() -> List[Dict[str, Any]]:
        summaries = [summarize(r, searches[r], finals[r]) for r in recipes]
        write_report(summaries, finals, out)
        return summaries

    # 1. The rate search of every recipe (seed 0).
    search_tasks = [(r, data, rate, 0, epochs, out) for r in recipes for rate in rates]
    for result in run_tasks(_train_task, search_tasks, jobs, threads):
        searches[result["recipe"]].append(result)
    for recipe in recipes:
        searches[recipe].sort(key=lambda r: r["peak_lr"])
        chosen = select_rate(searches[recipe])
        finals[recipe] = [r for r in searches[recipe] if r["peak_lr"] == chosen]
    report()
    # 2. More seeds at the selected rates, one seed of every recipe at a time, so an
    # ablation cut short still compares all recipes.
    seed_tasks = [
        (r, data, finals[r][0]["peak_lr"], seed, epochs, out)
        for seed in range(1, seeds)
        for r in recipes
    ]
    for result in run_tasks(_train_task, seed_tasks, jobs, threads):
        finals[result["recipe"]].append(result)
        report()
    for recipe in recipes:
        finals[recipe].sort(key=lambda r: r["seed"])
    return report()


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=Path, required=True, help="training jsonl")
    parser.add_argument("--dev", type=Path, required=True, help="dev jsonl (all choices)")
    parser.add_argument("--test", type=Path, required=True, help="test jsonl (reported)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--recipes", nargs="+", default=RECIPES, choices=RECIPES)
    parser.add_argument("--rates", nargs="+", type=float, default=[1e-4, 3e-4])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    args = parser.parse_args(argv)
    # The configs read the model folder from this external variable.
    os.environ.setdefault("STLR_MODEL", str(model_dir()))
    data = {"train": args.train.resolve(), "dev": args.dev.resolve(), "test": args.test.resolve()}
    run_ablation(
        data, args.out, args.recipes, args.rates, args.seeds, args.epochs, args.jobs, args.threads
    )
    print((args.out / "summary.md").read_text())


if __name__ == "__main__":
    main()
