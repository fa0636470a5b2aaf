"""
The preview's own warnings about training: a trainer without the `stlr_checks` callback,
and a `ConfigurationError` printed once although the scheduler also logs it for training.
"""
import json
import subprocess
import sys
from typing import Any, List

import pytest

from allennlp_stlr.tools.preview.advice import checks_callback_warnings
from tests.helpers import ROOT


@pytest.mark.parametrize(
    "callbacks, warned",
    [
        (None, True),
        ([], True),
        ([{"type": "stlr_trace"}], True),
        ([{"type": "no_such_callback"}], True),
        ([{"type": "stlr_checks"}], False),
        ([{"type": "stlr_trace"}, {"type": "allennlp_stlr.ConfigChecks"}], False),
        ([{"type": "allennlp_stlr.callbacks.ConfigChecks"}], False),
    ],
)
def test_a_trainer_without_the_checks_callback_is_warned_about(
    callbacks: List[Any], warned: bool
) -> None:
    trainer = {} if callbacks is None else {"callbacks": callbacks}
    warnings = checks_callback_warnings({"trainer": trainer})
    assert len(warnings) == warned
    if warned:
        assert '{"type": "allennlp_stlr.ConfigChecks"}' in warnings[0]


@pytest.mark.subprocess
def test_a_configuration_error_is_printed_once() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "allennlp_stlr", "preview", "configs/classifier_ulmfit.jsonnet",
         "-o", json.dumps({"trainer.learning_rate_scheduler.ratio": 0.5})],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 1
    message = "`ratio` must be a finite number >= 1 (at most 2**53), got 0.5."
    assert (done.stdout + done.stderr).count(message) == 1
    assert f"stlr-preview: error: slanted_triangular: {message}" in done.stderr
