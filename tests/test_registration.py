"""
Our class serves "slanted_triangular", is an instance of AllenNLP's built-in class for code
that checks `isinstance`, and takes nothing of the built-in's behaviour.
"""
import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from allennlp.common import Lazy, Params
from allennlp.common.plugins import import_plugins
from allennlp.data.data_loaders import SimpleDataLoader
from allennlp.training import Trainer
from allennlp.training.optimizers import Optimizer
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
from allennlp.training.learning_rate_schedulers.slanted_triangular import (
    SlantedTriangular as BuiltinSlantedTriangular,
)

import allennlp_stlr
from tests.helpers import ROOT, TINY_OPTIMIZER, Tiny

def test_plugins_file_names_the_package():
    assert (ROOT / ".allennlp_plugins").read_text().split() == ["allennlp_stlr"]


def test_import_plugins_replaces_the_builtin(monkeypatch):
    monkeypatch.chdir(ROOT)
    import_plugins()
    served = LearningRateScheduler.by_name("slanted_triangular")
    assert served is allennlp_stlr.SlantedTriangular
    assert served is not BuiltinSlantedTriangular


@pytest.mark.subprocess
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
    # Replacing the built-in is what the plugin is for, not a clash to report.
    assert "already been registered" not in done.stderr
    assert "overwriting" not in done.stderr


def test_a_trainer_built_from_params_holds_our_class_which_is_a_builtin_instance(
    tmp_path: Path,
) -> None:
    """AllenNLP's own `test_from_params_in_trainer` asserts `isinstance` against its class."""
    torch.manual_seed(0)
    model = Tiny()
    optimizer = Optimizer.from_params(
        model_parameters=list(model.named_parameters()), params=Params(copy.deepcopy(TINY_OPTIMIZER))
    )
    trainer = Trainer.from_params(
        model=model,
        optimizer=Lazy(lambda **kwargs: optimizer),
        serialization_dir=str(tmp_path),
        params=Params(
            {
                "num_epochs": 5,
                "learning_rate_scheduler": {"type": "slanted_triangular", "gradual_unfreezing": True},
            }
        ),
        data_loader=SimpleDataLoader([1] * 40, batch_size=10),
    )
    scheduler = trainer._learning_rate_scheduler
    assert type(scheduler) is allennlp_stlr.SlantedTriangular
    assert isinstance(scheduler, BuiltinSlantedTriangular)
    assert (scheduler.num_epochs, scheduler.num_steps_per_epoch) == (5, 4)
    # Our constructor, not the built-in's: our attributes and our freezing.
    assert scheduler.last_batch_num_total == 0 and scheduler.batch_num_total_epoch_end == [0]
    assert [p.requires_grad for p in model.parameters()] == [False] * 4 + [True] * 2


# Beside the constructor and the docstring, what the built-in class defines.
BUILTIN_METHODS = sorted(
    name
    for name, value in vars(BuiltinSlantedTriangular).items()
    if callable(value) and name != "__init__"
)


def test_the_builtin_defines_the_methods_we_know_of() -> None:
    assert BUILTIN_METHODS == ["get_values", "step", "step_batch"]


@pytest.mark.parametrize("name", BUILTIN_METHODS + ["__init__", "state_dict", "load_state_dict"])
def test_every_method_of_the_builtin_and_its_bases_is_ours(name: str) -> None:
    owner = next(c for c in allennlp_stlr.SlantedTriangular.__mro__ if name in vars(c))
    assert owner is allennlp_stlr.SlantedTriangular


def test_every_attribute_of_a_builtin_instance_is_served_by_our_class() -> None:
    """Its instance attributes are ours (plain or properties); none comes from the built-in."""
    torch.manual_seed(0)
    groups = [{"params": [torch.nn.Parameter(torch.zeros(2))]} for _ in range(3)] + [{"params": []}]
    builtin = BuiltinSlantedTriangular(
        torch.optim.SGD(copy.deepcopy(groups), lr=0.1), num_epochs=3, num_steps_per_epoch=4
    )
    ours = allennlp_stlr.SlantedTriangular(
        torch.optim.SGD(copy.deepcopy(groups), lr=0.1), num_epochs=3, num_steps_per_epoch=4
    )
    missing = [name for name in vars(builtin) if not hasattr(ours, name)]
    assert missing == []
    # Bound methods and properties come from the class; none from the built-in's.
    inherited = [
        name
        for name in dir(type(ours))
        if name not in ("__doc__", "__module__")
        and next(c for c in type(ours).__mro__ if name in vars(c)) is BuiltinSlantedTriangular
    ]
    assert inherited == []


def _fresh_python(code: str, cwd: Path) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.subprocess
def test_importing_the_plugin_changes_no_attribute_of_any_allennlp_module(tmp_path: Path) -> None:
    """Loading the plugin registers names through `register` and replaces nothing: every
    attribute of every `allennlp` module already imported is the same object afterwards."""
    code = (
        "import sys\n"
        "from allennlp.common.plugins import import_plugins; import_plugins()\n"
        "def snapshot():\n"
        "    return {(m, a): id(v) for m, mod in list(sys.modules.items())\n"
        "            if m == 'allennlp' or m.startswith('allennlp.')\n"
        "            for a, v in list(vars(mod).items())}\n"
        "before = snapshot()\n"
        "keep = dict(before)  # ids stay valid: nothing before is freed while `keep` holds it\n"
        "import allennlp_stlr\n"
        "after = snapshot()\n"
        "changed = sorted(k for k in before if after.get(k) != before[k])\n"
        "print('MODULES', len({m for m, _ in before}))\n"
        "print('CHANGED', changed)\n"
    )
    # Objects are compared by identity while the old ones are still referenced.
    code = code.replace("keep = dict(before)", "objs = {(m, a): v for m, mod in list(sys.modules.items()) if m == 'allennlp' or m.startswith('allennlp.') for a, v in list(vars(mod).items())}")
    out = _fresh_python(code, tmp_path)
    assert "CHANGED []" in out
    assert int(out.split("MODULES ")[1].split()[0]) > 100


@pytest.mark.subprocess
def test_importing_the_plugin_loads_no_tool_and_no_matplotlib(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "import allennlp_stlr\n"
        "ours = sorted(m for m in sys.modules if m.startswith('allennlp_stlr'))\n"
        "print('OURS', ' '.join(ours))\n"
        "print('MATPLOTLIB', 'matplotlib' in sys.modules)\n"
    )
    out = _fresh_python(code, tmp_path)
    ours = out.split("OURS ")[1].split("\n")[0].split()
    assert [m for m in ours if m.startswith("allennlp_stlr.tools")] == []
    assert "allennlp_stlr.scheduler" in ours and "allennlp_stlr.cli" in ours
    assert "MATPLOTLIB False" in out
