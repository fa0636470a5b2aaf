"""
ULMFiT where it was made for: a pretrained LSTM language model (`benchmarks/lstm_lm.py`),
fine-tuned as a classifier with the recipes of the paper's classifier ablation.

    .venv/bin/python -m benchmarks.ulmfit_lstm --out benchmarks/results/ulmfit_lstm --jobs 2 --threads 1
"""
import argparse
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from benchmarks import lstm_lm, prepare_data

SPLIT_SEED = 2018
# Reviews per split: the 100 training reviews are the first part of the 1,000; dev and
# test are the same for both sizes.
TRAIN_SIZES = (100, 1000)
DEV, TEST = 400, 1000
# Sized for about half an hour on one core of the shared machine (about 2 s per batch of
# 64 x 70 tokens measured): some 3.5M tokens, one epoch.
LM_REVIEWS = 12000


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


def language_model(
    out: Path, splits: Dict[str, Path], train_reviews: Optional[int], epochs: int,
    held_out: int = lstm_lm.HELD_OUT, vocabulary_size: int = lstm_lm.VOCABULARY_SIZE,
) -> Dict[str, Any]:
    """Train (or reuse) the LM on the IMDb reviews that no classification split uses."""
    by_label = prepare_data.load_texts(prepare_data.csv_path(), "imdb")
    used = [
        row["text"] for path in splits.values() for row in prepare_data.read_jsonl(path)
    ]
    return lstm_lm.train(
        out, by_label[0] + by_label[1], used, train_reviews, epochs, held_out, vocabulary_size
    )


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ulmfit_lstm"))
    parser.add_argument("--data", type=Path, default=Path("benchmarks/data/ulmfit_lstm"))
    parser.add_argument("--lm-reviews", type=int, default=LM_REVIEWS, help="LM training reviews")
    parser.add_argument("--lm-epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--lm-only", action="store_true", help="stop after the LM")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    splits = prepare(args.data.resolve())
    language_model(args.out.resolve() / "lm", splits, args.lm_reviews, args.lm_epochs)


if __name__ == "__main__":
    main()
