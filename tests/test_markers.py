"""`make test QUICK=1` leaves out the tests marked `subprocess`; an unmarked test that starts
an interpreter fails at once (tests/conftest.py), so that QUICK stays in-process."""
import shutil
import subprocess
import sys

import pytest


def test_an_unmarked_test_cannot_start_an_interpreter() -> None:
    for argv in ([sys.executable, "-c", "pass"], ["bash", "-c", "true"]):
        with pytest.raises(RuntimeError, match="is not marked subprocess: add @pytest.mark"):
            subprocess.run(argv, check=True)


def test_other_programs_may_run_unmarked() -> None:
    assert subprocess.run([shutil.which("true") or "/bin/true"]).returncode == 0


@pytest.mark.subprocess
def test_a_marked_test_starts_one() -> None:
    done = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True)
    assert done.stdout == "42\n"

