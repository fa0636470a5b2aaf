"""
The first thing a user runs prints no warning that contradicts the README and no download
error. google-api-core (imported by AllenNLP through google-cloud-storage) warns from 2.28 on
that Python 3.10 is unsupported, so `setup.cfg` keeps it below that release. allennlp-models,
which AllenNLP imports as a default plugin in every command, calls `nltk.download("punkt")`
at import unless NLTK finds the punkt model, so `make env` installs it (tools/nltk_punkt.py).
"""
import subprocess
import sys
from pathlib import Path
from typing import List

import nltk
import pytest

from tests.helpers import ALLENNLP, ROOT


@pytest.mark.subprocess
@pytest.mark.parametrize(
    "argv, here",
    [
        ([ALLENNLP, "--help"], True),  # the plugin loaded by the root's plugins file
        ([sys.executable, "-m", "allennlp_stlr", "--help"], False),  # a folder without one
    ],
    ids=["allennlp --help", "python -m allennlp_stlr --help"],
)
def test_help_prints_no_warning_and_no_download_error(
    argv: List[str], here: bool, tmp_path: Path
) -> None:
    done = subprocess.run(argv, cwd=ROOT if here else tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
    assert "non-supported Python version" not in done.stderr, done.stderr
    assert "FutureWarning" not in done.stderr, done.stderr
    assert "[nltk_data]" not in done.stdout + done.stderr, done.stderr
    if here:  # the plugins file loads allennlp-models too
        assert "Plugin allennlp_models available" in done.stderr


def test_nltk_finds_the_english_punkt_model_and_splits_sentences_with_it() -> None:
    # What allennlp-models checks before it would download the model.
    nltk.data.find("tokenizers/punkt")
    text = "Mr. Smith went to Washington D.C. on Jan. 5. He left at 3 p.m. yesterday."
    # The abbreviations are the model's: without them each period would end a sentence.
    assert nltk.sent_tokenize(text) == [
        "Mr. Smith went to Washington D.C. on Jan. 5.",
        "He left at 3 p.m. yesterday.",
    ]
