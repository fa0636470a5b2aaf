"""
Running or resuming from a folder without `.allennlp_plugins`, where AllenNLP's built-in
"slanted_triangular" serves unless a config names our class by its dotted path.

- A run started with the plugin and continued with `--recover` without it must stop with
  an error that names `allennlp_stlr` and how to load it, instead of letting the built-in
  silently continue our checkpoint (its `load_state_dict` accepts any keys).
- A scheduler `type` written as `allennlp_stlr.SlantedTriangular` is imported by
  `Registrable.resolve_class_name`, so our class serves with no plugin file. The packaged
  `stlr.libsonnet` writes that type in its scheduler blocks, and its preset trains with our
  class where the plain type gets the built-in.

The runs here cannot use the `stlr_trace` callback (it is part of the plugin, and naming it
would load the plugin); the `scheduler_record` probe of `tests/probes.py` records which
class served each update and its learning rates instead.
"""
import copy
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
from allennlp.common import Params

from tests.helpers import RESUME_CONFIG, ROOT, allennlp_train, read_lines

DATA = ROOT / "fixtures" / "data"
PLUGINS = ["--include-package", "tests.fault_injection", "--include-package", "tests.probes"]
OURS = "allennlp_stlr.scheduler.SlantedTriangular"
BUILTIN = "allennlp.training.learning_rate_schedulers.slanted_triangular.SlantedTriangular"
SERVED = f'LearningRateScheduler "slanted_triangular" is now served by {OURS}'


def absolute_paths(params: Dict[str, Any]) -> Dict[str, Any]:
    params = copy.deepcopy(params)
    params["train_data_path"] = str(DATA / "train.jsonl")
    params["validation_data_path"] = str(DATA / "dev.jsonl")
    return params


def records(run: Path) -> List[Dict[str, Any]]:
    return read_lines(run / "scheduler_record.jsonl")


def plugin_free_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    assert not (folder / ".allennlp_plugins").exists()
    return folder


@pytest.mark.allennlp_train
def test_recover_without_the_plugin_stops_and_says_how_to_load_it(tmp_path: Path) -> None:
    """
    Started from the repository root (the plugin loaded), killed after update 17 of the
    resume fixture (gradual unfreezing, discriminative fine-tuning; checkpoint at update 14),
    then `--recover`ed from a folder without `.allennlp_plugins`.
    """
    params = absolute_paths(Params.from_file(str(RESUME_CONFIG)).as_dict(quiet=True))
    params["trainer"]["callbacks"] = [
        {"type": "scheduler_record"},
        {"type": "sigkill_at_update", "update": 17},
    ]
    config = tmp_path / "config.json"
    config.write_text(json.dumps(params))
    run = tmp_path / "run"

    killed = allennlp_train(str(config), "-s", str(run), *PLUGINS, OMP_NUM_THREADS="1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert {r["scheduler"] for r in records(run)} == {OURS}
    assert (run / "training_state_e1_b4.th").exists()

    recovered = allennlp_train(
        str(config), "-s", str(run), "--recover", *PLUGINS,
        cwd=plugin_free_folder(tmp_path), PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1",
    )
    continued = records(run)[17:]
    served = sorted({r["scheduler"] for r in continued})
    assert recovered.returncode != 0, (
        f"the recover without the plugin exited 0 after {len(continued)} updates "
        f"served by {served}"
    )
    assert continued == []
    # One message names the plugin and how to load it (not a path in a traceback).
    output = recovered.stdout + recovered.stderr
    told = [
        line
        for line in output.splitlines()
        if "allennlp_stlr" in line and ".allennlp_plugins" in line
    ]
    assert told, output[-3000:]


# A one-epoch run of 10 updates with cut_frac 0.05: int(10 * 0.05) == 0, so the built-in
# has no warm-up and starts at 0.9 of the way to the peak; ours warms up for one update
# and applies the peak, 0.01, at update 1.
ONE_EPOCH = {"num_epochs": 1, "cut_frac": 0.05}
BUILTIN_FIRST = 0.01 * (1 + 0.9 * 31) / 32  # 0.00903125

# the config's scheduler block (Jsonnet, `stlr` being the copied stlr.libsonnet), class that
# serves, lr of update 1, plugin announced
SCHEDULERS = [
    ("{ type: 'slanted_triangular', cut_frac: %(cut_frac)s }", BUILTIN, BUILTIN_FIRST, False),
    # The packaged preset writes the dotted type `allennlp_stlr.SlantedTriangular`, which
    # `Registrable.resolve_class_name` imports.
    ("stlr.transformer() + { cut_frac: %(cut_frac)s }", OURS, 0.01, True),
]


@pytest.mark.allennlp_train
@pytest.mark.parametrize(
    "block, served_by, first_lr, announced", SCHEDULERS, ids=["plain type", "packaged preset"]
)
def test_the_packaged_preset_trains_with_our_class_without_a_plugin_file(
    tmp_path: Path, block: str, served_by: str, first_lr: float, announced: bool
) -> None:
    """
    A user's folder with no `.allennlp_plugins`, the packaged `stlr.libsonnet` copied there
    by `python -m allennlp_stlr libsonnet --copy-to`, and a config that imports it.
    """
    folder = plugin_free_folder(tmp_path)
    copied = subprocess.run(
        [sys.executable, "-m", "allennlp_stlr", "libsonnet", "--copy-to", str(folder)],
        cwd=folder, capture_output=True, text=True,
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    experiment = Params.from_file(str(ROOT / "fixtures" / "experiment.jsonnet"))
    params = absolute_paths(experiment.as_dict(quiet=True))
    params["trainer"]["num_epochs"] = ONE_EPOCH["num_epochs"]
    del params["trainer"]["learning_rate_scheduler"]
    params["trainer"]["callbacks"] = [{"type": "scheduler_record"}]
    (folder / "base.json").write_text(json.dumps(params))
    scheduler = block % {"cut_frac": ONE_EPOCH["cut_frac"]}
    (folder / "config.jsonnet").write_text(
        "local stlr = import 'stlr.libsonnet';\n"
        f"(import 'base.json') + {{ trainer+: {{ learning_rate_scheduler: {scheduler} }} }}\n"
    )
    run = tmp_path / "run"

    done = allennlp_train(
        "config.jsonnet", "-s", str(run), "--include-package", "tests.probes",
        cwd=folder, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = records(run)
    assert [r["update"] for r in lines] == list(range(1, 11))
    assert {r["scheduler"] for r in lines} == {served_by}
    assert lines[0]["lr"] == [pytest.approx(first_lr, rel=1e-12)]
    # Both end on the floor, base / ratio.
    assert lines[-1]["lr"] == [pytest.approx(0.01 / 32, rel=1e-12)]
    assert (SERVED in (run / "out.log").read_text()) is announced
