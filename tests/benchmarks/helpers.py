"""What tests outside tests/benchmarks/ need from the benchmarks (tests/helpers.py does not
import them)."""
from pathlib import Path
from typing import Any, Callable, List

import pytest
from allennlp.common.checks import ConfigurationError

from benchmarks import lstm_lm, prepare_data
from tests.helpers import ROOT


def tiny_language_model(folder: Path) -> Path:
    """A language model of the ULMFiT LSTM benchmark's shape, trained one epoch on the
    fixture sentences under `folder`; its serialization directory (`ULMFIT_LM`)."""
    rows = prepare_data.read_jsonl(ROOT / "fixtures" / "data" / "train.jsonl")
    texts = [row["text"] for row in rows]
    lstm_lm.train(folder, texts, [], None, epochs=1, held_out=10, num_samples=16)
    return folder / "model"


def assert_refused(main: Callable[[List[str]], Any], argv: List[str], message: str, untouched: Path) -> None:
    """A harness's `main(argv)` stops with a `ConfigurationError` matching `message` before it
    writes `untouched`."""
    with pytest.raises(ConfigurationError, match=message):
        main(argv)
    assert not untouched.exists()
