"""`tools/python.sh`, which `make` uses to find an interpreter allennlp 2.10 can run on."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.subprocess

SCRIPT = ROOT / "tools" / "python.sh"


def find(env):
    return subprocess.run(["/bin/bash", str(SCRIPT)], env=env, capture_output=True, text=True)


def bare_path(tmp_path: Path) -> str:
    """A PATH with the tools the script uses and no Python at all."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("cat", "ls", "sort"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    return str(bin_dir)


def test_takes_a_suitable_python_from_the_environment(tmp_path):
    done = find({"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == sys.executable


def test_finds_a_pyenv_version(tmp_path):
    version = f"{sys.version_info.major}.{sys.version_info.minor}.99"
    bin_dir = tmp_path / ".pyenv" / "versions" / version / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    done = find({"PATH": bare_path(tmp_path), "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(bin_dir / "python")


def test_says_what_to_install_when_there_is_none(tmp_path):
    done = find({"PATH": bare_path(tmp_path), "HOME": str(tmp_path), "PYTHON": "/nonexistent/python"})
    assert done.returncode == 1
    assert done.stdout == ""
    assert "No Python 3.8, 3.9 or 3.10 found" in done.stderr
    assert "pyenv install 3.10" in done.stderr
    assert "PYTHON=/path/to/python3.10" in done.stderr
