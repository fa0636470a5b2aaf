import os
import subprocess
import sys

from allennlp.common.plugins import import_plugins
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
from allennlp.training.learning_rate_schedulers.slanted_triangular import (
    SlantedTriangular as BuiltinSlantedTriangular,
)

import allennlp_stlr
from tests.helpers import ROOT



def test_plugins_file_names_the_package():
    assert (ROOT / ".allennlp_plugins").read_text().split() == ["allennlp_stlr"]


def test_import_plugins_replaces_the_builtin(monkeypatch):
    monkeypatch.chdir(ROOT)
    import_plugins()
    served = LearningRateScheduler.by_name("slanted_triangular")
    assert served is allennlp_stlr.SlantedTriangular
    assert served is not BuiltinSlantedTriangular


def test_fresh_process_logs_which_class_serves_the_name(tmp_path):
    (tmp_path / ".allennlp_plugins").write_text("allennlp_stlr\n")
    code = (
        "import logging; logging.basicConfig(level=logging.INFO)\n"
        "from allennlp.common.plugins import import_plugins; import_plugins()\n"
        "from allennlp.training.learning_rate_schedulers import LearningRateScheduler as L\n"
        "c = L.by_name('slanted_triangular'); print('SERVED', c.__module__, c.__name__)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "SERVED allennlp_stlr.scheduler SlantedTriangular" in done.stdout
    assert (
        'LearningRateScheduler "slanted_triangular" is now served by '
        "allennlp_stlr.scheduler.SlantedTriangular" in done.stderr
    )
