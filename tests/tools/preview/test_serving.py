"""
The preview warns when `allennlp train`, run from the same folder, would not build our class
for the config's scheduler `type`: the plain "slanted_triangular" where no plugins file
lists `allennlp_stlr` and no `--include-package` names it.
"""
import json
import re
from pathlib import Path
from typing import List, Optional

import pytest
from allennlp.common import plugins

from allennlp_stlr import __main__ as entry
from allennlp_stlr.tools.config import load_params
from tests.helpers import ROOT

DATA = ROOT / "fixtures" / "data"
WARNED = re.compile(
    r'^WARNING: learning_rate_scheduler.type is "slanted_triangular", but no plugins file '
    r"lists allennlp_stlr here .*`allennlp train` run from this folder would train with "
    r"AllenNLP's built-in slanted_triangular.*\"allennlp_stlr.SlantedTriangular\"",
    re.M,
)

# scheduler type, .allennlp_plugins of the folder (None: no file), ~/.allennlp/plugins,
# --include-package, warned
CASES = [
    ("slanted_triangular", None, None, [], True),
    ("slanted_triangular", "some_other_plugin\n", None, [], True),
    ("slanted_triangular", "allennlp_stlr\n", None, [], False),
    ("slanted_triangular", None, "allennlp_stlr\n", [], False),
    ("slanted_triangular", None, None, ["allennlp_stlr"], False),
    ("allennlp_stlr.SlantedTriangular", None, None, [], False),
]


@pytest.mark.parametrize("scheduler_type, local, home, include, warned", CASES)
def test_preview_warns_where_training_would_use_the_builtin(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    scheduler_type: str,
    local: Optional[str],
    home: Optional[str],
    include: List[str],
    warned: bool,
) -> None:
    params = load_params(str(ROOT / "fixtures" / "experiment.jsonnet")).as_dict(quiet=True)
    params["train_data_path"] = str(DATA / "train.jsonl")
    params["validation_data_path"] = str(DATA / "dev.jsonl")
    params["trainer"]["learning_rate_scheduler"] = {"type": scheduler_type}
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(params))
    if local is not None:
        (folder / ".allennlp_plugins").write_text(local)
    global_file = tmp_path / "home_plugins"
    if home is not None:
        global_file.write_text(home)
    monkeypatch.setattr(plugins, "GLOBAL_PLUGINS_FILENAME", str(global_file))
    monkeypatch.chdir(folder)

    argv = ["preview", "config.json"] + [x for p in include for x in ("--include-package", p)]
    entry.main(argv)
    out = capsys.readouterr().out
    assert "slanted_triangular preview of config.json" in out
    assert bool(WARNED.search(out)) is warned, out
