"""
Hypothesis profiles, and the `subprocess` marker.

`ci` (the default) keeps the property tests to a few seconds each and draws the same
examples on every run, so a failure reproduces; `long` explores far more examples with
fresh randomness. Select one with the environment variable:

    HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/test_scheduler_properties.py

Every test that starts a new Python interpreter (directly, or through a shell or `make`)
carries the marker `subprocess`: each such interpreter spends about 5-6 s importing
AllenNLP's plugins, and `make test QUICK=1` deselects these tests. The tests under
tests/runs/ and tests/benchmarks/, and those marked `allennlp_train`, get the marker here;
the others write it. A test without the marker that starts one fails, naming the program.
"""
import os
import sys
from pathlib import Path
from typing import Any, List, Optional

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_TESTS = Path(__file__).resolve().parent
_ALWAYS_SUBPROCESS = (_TESTS / "runs", _TESTS / "benchmarks")
_VENV_BIN = Path(sys.executable).parent
# Programs that start an interpreter: the environment's own scripts (python, allennlp, pip),
# and the shells and make that run them.
_LAUNCHERS = ("bash", "sh", "make")


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath)).resolve()
        if item.get_closest_marker("allennlp_train") or any(
            folder in path.parents for folder in _ALWAYS_SUBPROCESS
        ):
            item.add_marker(pytest.mark.subprocess)


_running: Optional[pytest.Item] = None


def _starts_an_interpreter(program: Any, argv: Any) -> bool:
    if program is None:
        program = argv if isinstance(argv, (str, bytes, os.PathLike)) else argv[0]
    name = Path(os.fsdecode(program))
    return (
        name.name in _LAUNCHERS
        or name.name.startswith("python")
        or name.parent == _VENV_BIN
    )


def _audit(event: str, args: Any) -> None:
    if event != "subprocess.Popen" or _running is None:
        return
    if _running.get_closest_marker("subprocess") is None and _starts_an_interpreter(*args[:2]):
        raise RuntimeError(
            f"{_running.nodeid} starts {args[1]!r} but is not marked subprocess: add "
            "@pytest.mark.subprocess, so that make test QUICK=1 leaves it out"
        )


sys.addaudithook(_audit)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Optional[pytest.Item]) -> Any:
    global _running
    _running = item
    try:
        yield
    finally:
        _running = None
