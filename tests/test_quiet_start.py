"""
The first thing a user runs prints no warning that contradicts the README: google-api-core
(imported by AllenNLP through google-cloud-storage) warns from 2.28 on that Python 3.10 is
unsupported, so `setup.cfg` keeps it below that release.
"""
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from tests.helpers import ALLENNLP, ROOT


@pytest.mark.parametrize(
    "argv, here",
    [
        ([ALLENNLP, "--help"], True),  # the plugin loaded by the root's plugins file
        ([sys.executable, "-m", "allennlp_stlr", "--help"], False),  # a folder without one
    ],
    ids=["allennlp --help", "python -m allennlp_stlr --help"],
)
def test_help_prints_no_python_version_warning(
    argv: List[str], here: bool, tmp_path: Path
) -> None:
    done = subprocess.run(argv, cwd=ROOT if here else tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
    assert "non-supported Python version" not in done.stderr, done.stderr
    assert "FutureWarning" not in done.stderr, done.stderr
