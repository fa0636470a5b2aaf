"""
The same config labels its param groups the same way in the training log whichever way the
plugin is loaded: a plugins file and the plain type, or the dotted type and no plugins file
(which imports the plugin only while the scheduler is built, after the optimizer).
"""
import json
from pathlib import Path
from typing import List

import pytest
from allennlp.common import Params

from tests.helpers import ROOT, allennlp_train

DATA = ROOT / "fixtures" / "data"


def start_table(log: str) -> List[str]:
    """The rows of the scheduler's first `layer groups` table, without their log prefix."""
    lines = log.splitlines()
    start = next(i for i, line in enumerate(lines) if "slanted_triangular layer groups (start)" in line)
    return lines[start + 1 : start + 7]


@pytest.mark.allennlp_train
def test_a_plugins_file_and_the_dotted_type_log_the_same_group_labels(tmp_path: Path) -> None:
    config = Params.from_file(str(ROOT / "configs" / "classifier_ulmfit.jsonnet")).as_dict()
    config["train_data_path"] = str(DATA / "train.jsonl")
    config["validation_data_path"] = str(DATA / "dev.jsonl")
    config["trainer"]["num_epochs"] = 4
    config["trainer"].pop("callbacks", None)
    # One group without a name: it is `group 1` in both runs.
    del config["trainer"]["optimizer"]["parameter_groups"][1][1]["name"]
    tables = []
    for scheduler_type, plugins_file in (
        ("slanted_triangular", True),
        ("allennlp_stlr.SlantedTriangular", False),
    ):
        folder = tmp_path / scheduler_type
        folder.mkdir()
        if plugins_file:
            (folder / ".allennlp_plugins").write_text("allennlp_stlr\n")
        config["trainer"]["learning_rate_scheduler"]["type"] = scheduler_type
        (folder / "config.json").write_text(json.dumps(config))
        done = allennlp_train("config.json", "-s", "run", cwd=folder, PYTHONPATH=str(ROOT))
        assert done.returncode == 0, done.stderr[-3000:]
        tables.append(start_table(done.stdout))
    with_file, dotted = tables
    assert with_file == dotted
    assert [row.split()[-1] for row in with_file[1:]] == ["embedder", "1", "feedforward", "head", "4"]
    assert [" ".join(row.split()[-2:]) for row in with_file[1:] if row.split()[-2] == "group"] == [
        "group 1",
        "group 4",
    ]
