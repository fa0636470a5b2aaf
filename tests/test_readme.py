"""
The fenced blocks of README.md, docs/*.md and benchmarks/README.md run as written.

Every fenced block is either run here (`RUN`: commands, configs, Python) or listed in
`NOT_RUN` with the reason, and `test_every_block_is_run_or_listed_as_not_run` fails for a
block that is neither, so a new block cannot escape. A `text` block right after a block
that is run is that block's output: its lines must appear, in order, at the ends of the
lines the block really prints (log lines carry a timestamp before them). Blocks are known
by their file and their first line.

Commands run from the repository root, as the README says, with this interpreter's
`bin/` first on PATH: what `source .venv/bin/activate` gives.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Set, Tuple

import _jsonnet
import pytest
from allennlp.common import Params
from allennlp.commands.train import TrainModel

import allennlp_stlr  # noqa: F401  (registers our "slanted_triangular")
from allennlp_stlr.scheduler import SlantedTriangular
from tests.helpers import ROOT, run_main

BIN = Path(sys.executable).parent
DOCUMENTS = ["README.md", "benchmarks/README.md"] + sorted(
    str(path.relative_to(ROOT)) for path in (ROOT / "docs").glob("*.md")
)
LANGUAGES = {"sh", "bash", "jsonnet", "python", "text"}
TIMEOUT_SECONDS = 600


class Block(NamedTuple):
    document: str
    language: str
    text: str

    @property
    def key(self) -> Tuple[str, str]:
        return self.document, self.text.strip().splitlines()[0].strip()


def blocks_of(document: str) -> List[Block]:
    text = (ROOT / document).read_text()
    found = re.findall(r"^```([^\n`]*)\n(.*?)^```\s*$", text, flags=re.S | re.M)
    return [Block(document, language.strip(), body) for language, body in found]


ALL_BLOCKS = [block for document in DOCUMENTS for block in blocks_of(document)]

# Blocks deliberately not run, with the reason. (document, first line) -> reason
NOT_RUN: Dict[Tuple[str, str], str] = {
    ("README.md", "pip install .                                        # from the clone, into your environment"): (
        "installs into the environment; tests/test_packaging.py builds the wheel with "
        "`pip wheel --no-deps` and installs it into a fresh virtualenv"
    ),
    ("README.md", "make env"): (
        "creates the .venv these tests run in; tests/test_setup.py tests tools/python.sh, "
        "which make env uses to find a Python"
    ),
    ("README.md", "make test QUICK=1"): "runs the test suite, this test included",
    ("README.md", "make train   # train the fixture experiment, fixtures/experiment.jsonnet, with the plugin"): (
        "`make train` trains fixtures/experiment.jsonnet, as tests/runs/test_training.py does; "
        "`make test` runs the test suite, this test included"
    ),
    ("docs/schedule.md", "cut   = max(1, floor(T * cut_frac))        (0 when cut_frac = 0)"): (
        "a formula, not a command; tests/test_schedule.py checks it "
        "(test_plan_floats_equal_the_builtin_formula)"
    ),
    ("README.md", "allennlp_stlr/"): "the layout of the repository, not a command",
    ("benchmarks/README.md", ".venv/bin/python -m benchmarks.recipes --estimate --jobs 2 --threads 1   # time one run per data set, project the total"): (
        "trains transformer runs (minutes to hours); tests/benchmarks/test_smoke.py runs "
        "the recipes benchmark on tiny inputs"
    ),
    ("benchmarks/README.md", ".venv/bin/python -m benchmarks.ulmfit_lstm --lm-only --threads 2                       # the language model alone (cached)"): (
        "trains a language model (47 minutes on 2 cores) and then hundreds of LSTM classifiers; "
        "tests/benchmarks/test_ulmfit_lstm.py runs the benchmark on tiny inputs"
    ),
    ("benchmarks/README.md", "# a fixed, seeded, class-balanced split of the Rotten Tomatoes sentences"): (
        "trains 45 transformer runs (about 45 minutes); tests/benchmarks/test_smoke.py runs "
        "prepare_data and the ablation harness on tiny inputs"
    ),
    ("benchmarks/README.md", ".venv/bin/python -m benchmarks.finder --out benchmarks/results/finder"): (
        "sweeps all-MiniLM-L6-v2 on each searched set (minutes each) and trains at the "
        "suggestions; tests/benchmarks/test_finder.py checks its bookkeeping without training"
    ),
}


def run_shell(block: Block, timeout: int = TIMEOUT_SECONDS, fresh: Optional[Path] = None) -> str:
    """
    The block as a bash script from the repository root, in the activated environment;
    `fresh`, a folder the block writes, is removed first, as on a first run.
    """
    if fresh is not None:
        shutil.rmtree(fresh, ignore_errors=True)
    env = dict(
        os.environ,
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        VIRTUAL_ENV=str(BIN.parent),
        OMP_NUM_THREADS="1",
        # The documents show a terminal 120 columns wide (pytest-xdist's workers set 80).
        COLUMNS="120",
    )
    done = subprocess.run(
        ["bash", "-e", "-c", block.text],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream, in the order it was written
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{block.text}\noutput:\n{done.stdout}"
    return done.stdout


def run_python(block: Block) -> str:
    done = subprocess.run(
        [sys.executable, "-c", block.text],
        cwd=ROOT,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )
    assert done.returncode == 0, f"{block.text}\n{done.stderr}"
    return done.stdout


def check_classifier_ulmfit_config(block: Block) -> str:
    """The README's config is configs/classifier_ulmfit.jsonnet, and AllenNLP builds it."""
    shown = json.loads(_jsonnet.evaluate_snippet("README.md", block.text))
    shipped = json.loads(_jsonnet.evaluate_file(str(ROOT / "configs" / "classifier_ulmfit.jsonnet")))
    assert shown == shipped
    return ""


def build_as_allennlp_train(config: dict, serialization_dir: Path) -> TrainModel:
    """Everything `allennlp train` builds before its first batch, from the repository root."""
    cwd = os.getcwd()
    os.chdir(ROOT)  # the config's data paths are relative to the root
    try:
        return TrainModel.from_params(
            params=Params(config), serialization_dir=str(serialization_dir), local_rank=0
        )
    finally:
        os.chdir(cwd)


def check_switching_recipe(block: Block) -> str:
    """The recipe's blocks are those of fixtures/roberta_switched.jsonnet."""
    shown = json.loads(
        _jsonnet.evaluate_snippet("switching.md", block.text, jpathdir=[str(ROOT / "configs")])
    )
    fixture = json.loads(_jsonnet.evaluate_file(
        str(ROOT / "fixtures" / "roberta_switched.jsonnet"), ext_vars={"STLR_ROBERTA": "roberta"}
    ))
    assert shown == {key: fixture["trainer"][key] for key in shown}
    assert set(shown) == {"optimizer", "learning_rate_scheduler"}
    return ""


# Blocks that are run: (document, first line) -> (run it, marks)
SUBPROCESS = [pytest.mark.subprocess]
Runner = Callable[[Block], str]
RUN: Dict[Tuple[str, str], Tuple[Runner, List[pytest.MarkDecorator]]] = {
    ("README.md", "allennlp stlr-groups fixtures/experiment.jsonnet"): (run_shell, SUBPROCESS),
    ("README.md", "{"): (check_classifier_ulmfit_config, []),
    ("README.md", "allennlp stlr-preview configs/classifier_ulmfit.jsonnet"): (run_shell, SUBPROCESS),
    ("README.md", "allennlp stlr-find-lr configs/classifier_ulmfit.jsonnet -s runs/find_lr --csv"): (
        lambda block: run_shell(block, fresh=ROOT / "runs" / "find_lr"),
        [pytest.mark.allennlp_train],
    ),
    ("README.md", "allennlp train configs/classifier_ulmfit.jsonnet -s runs/classifier_ulmfit -f"): (
        run_shell,
        [pytest.mark.allennlp_train],
    ),
    ("docs/internals.md", "import torch"): (run_python, SUBPROCESS),
    ("docs/switching.md", "local stlr = import 'stlr.libsonnet';"): (check_switching_recipe, []),
    ("docs/preview.md", """allennlp stlr-preview configs/classifier_ulmfit.jsonnet -o '{"trainer.patience": 2}'"""): (
        run_shell,
        SUBPROCESS,
    ),
    ("docs/preview.md", "python -m allennlp_stlr libsonnet --copy-to runs/my_configs"): (
        lambda block: run_shell(block, fresh=ROOT / "runs" / "my_configs"),
        SUBPROCESS,
    ),
}


def expected_output(block: Block) -> Optional[Block]:
    """The `text` block right after `block` in its document, if any."""
    same = [b for b in ALL_BLOCKS if b.document == block.document]
    index = same.index(block)
    if index + 1 < len(same) and same[index + 1].language == "text":
        return same[index + 1]
    return None


def assert_lines_appear_in_order(expected: Block, output: str) -> None:
    lines = [line.rstrip() for line in output.splitlines()]
    position = 0
    for want in (line.rstrip() for line in expected.text.splitlines()):
        if not want:
            continue
        while position < len(lines) and not lines[position].endswith(want):
            position += 1
        assert position < len(lines), f"not printed (in this order): {want!r}\n--- output:\n{output}"
        position += 1


def outputs() -> List[Block]:
    return [out for b in ALL_BLOCKS if b.key in RUN for out in [expected_output(b)] if out]


# ----------------------------------------------------------------- the bookkeeping
def test_every_block_is_run_or_listed_as_not_run():
    output_keys = {out.key for out in outputs()}
    unknown = [
        block.key
        for block in ALL_BLOCKS
        if block.key not in RUN and block.key not in NOT_RUN and block.key not in output_keys
    ]
    assert unknown == [], "add these blocks to RUN or NOT_RUN (with the reason)"
    assert [b.key for b in ALL_BLOCKS if b.language not in LANGUAGES] == []


def test_no_entry_is_left_over_from_a_block_that_is_gone():
    keys = {block.key for block in ALL_BLOCKS}
    assert sorted(set(RUN) - keys) == []
    assert sorted(set(NOT_RUN) - keys) == []
    assert set(RUN).isdisjoint(NOT_RUN)


def test_first_lines_tell_the_blocks_apart():
    keys = [block.key for block in ALL_BLOCKS]
    assert len(keys) == len(set(keys))


# ----------------------------------------------------------------- the blocks
def _cases() -> List:
    cases = []
    for block in ALL_BLOCKS:
        if block.key in RUN:
            runner, marks = RUN[block.key]
            cases.append(pytest.param(block, id=f"{block.document}:{block.key[1][:50]}", marks=marks))
    return cases


# What each block printed, so that a test of more lines does not run it a second time.
PRINTED: Dict[Tuple[str, str], str] = {}


def printed_by(block: Block) -> str:
    if block.key not in PRINTED:
        runner, _ = RUN[block.key]
        PRINTED[block.key] = runner(block)
    return PRINTED[block.key]


@pytest.mark.parametrize("block", _cases())
def test_block_runs_and_prints_what_the_document_shows(block: Block):
    output = printed_by(block)
    shown = expected_output(block)
    if shown is not None:
        assert_lines_appear_in_order(shown, output)


# ----------------------------------------------------------------- key lines, beyond the shown output
@pytest.mark.subprocess
def test_preview_prints_the_table_header_and_every_group():
    preview = next(b for b in ALL_BLOCKS if b.key[1].startswith("allennlp stlr-preview"))
    output = printed_by(preview)
    header = next(line for line in output.splitlines() if line.startswith("group  name  "))
    assert header.split() == [
        "group", "name", "params", "peak", "lr", "floor", "lr", "unfrozen", "regexes"
    ]
    # Each group under the label the training log gives it.
    assert "    0  embedder  " in output and "    4  group 4  " in output
    assert "update 61 (epoch 3)" in output


def test_the_first_screen_shows_the_two_commands():
    first_screen = (ROOT / "README.md").read_text().splitlines()[:24]
    commands = [line.split("#")[0].strip() for line in first_screen if line.startswith("make ")]
    assert commands == ["make train", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert "\ntrain: env\n" in makefile and "\ntest: env\n" in makefile


def test_make_train_and_the_readme_say_where_the_run_went_and_what_shows_the_schedule():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntrain: env\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert recipe[0].endswith("allennlp train fixtures/experiment.jsonnet -s runs/fixture -f")
    said = " ".join(line.split("@echo", 1)[1].strip(' "') for line in recipe[1:])
    assert "The run is in runs/fixture" in said
    assert "runs/fixture/stlr_trace.jsonl shows the schedule" in said
    readme = (ROOT / "README.md").read_text()
    assert "`runs/fixture/stlr_trace.jsonl` shows the\nschedule" in readme
    # The run writes that file: the fixture trains with the stlr_trace callback.
    fixture = json.loads(_jsonnet.evaluate_file(str(ROOT / "fixtures" / "experiment.jsonnet")))
    assert {"type": "stlr_trace"} in fixture["trainer"]["callbacks"]


def test_module_commands_named_in_the_readme_exist(capsys: pytest.CaptureFixture):
    text = (ROOT / "README.md").read_text()
    named = set(re.findall(r"python -m allennlp_stlr ([\w-]+)", text))
    named |= set(re.findall(r"python -m allennlp_stlr ((?:[\w-]+\|)+[\w-]+)", text)[0].split("|"))
    assert named == {"preview", "groups", "find-lr", "libsonnet"}
    for command in sorted(named):
        done = run_main(capsys, command, "--help")
        assert done["code"] == 0, done["err"]
        assert done["out"].startswith(f"usage: python -m allennlp_stlr {command}"), done["out"]


def test_libsonnet_copy_command_of_the_readme(tmp_path: Path, capsys: pytest.CaptureFixture):
    done = run_main(capsys, "libsonnet", "--copy-to", str(tmp_path))
    assert done["code"] == 0, done["err"]
    copy = tmp_path / "stlr.libsonnet"
    assert done["out"].strip() == str(copy)
    assert copy.read_text() == (ROOT / "allennlp_stlr" / "stlr.libsonnet").read_text()


def test_readme_config_builds_our_scheduler_as_allennlp_train_does(tmp_path: Path):
    block = next(b for b in ALL_BLOCKS if b.key == ("README.md", "{"))
    config = json.loads(_jsonnet.evaluate_snippet("README.md", block.text))
    train_loop = build_as_allennlp_train(config, tmp_path / "run")
    scheduler = train_loop.trainer._learning_rate_scheduler
    assert type(scheduler) is SlantedTriangular
    assert scheduler.num_epochs == 10 and scheduler.num_steps_per_epoch == 20
    flags = scheduler.trainable()
    assert flags == [False, False, False, True, True]  # only the head (and the empty default)
    assert scheduler.base_values == pytest.approx([0.03 * 0.6**3, 0.03 * 0.6**2, 0.03 * 0.6, 0.03, 0.03])


def test_dotted_type_of_the_readme_builds_our_class():
    from allennlp.training.learning_rate_schedulers import LearningRateScheduler
    import torch

    text = (ROOT / "README.md").read_text()
    assert '"type": "allennlp_stlr.SlantedTriangular"' in text
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    scheduler = LearningRateScheduler.from_params(
        optimizer=optimizer,
        params=Params({"type": "allennlp_stlr.SlantedTriangular", "num_epochs": 2}),
        num_steps_per_epoch=5,
    )
    assert type(scheduler) is SlantedTriangular


@pytest.mark.subprocess
def test_call_order_example_ends_on_the_floor():
    block = next(b for b in ALL_BLOCKS if b.key == ("docs/internals.md", "import torch"))
    assert run_python(block).strip() == str(0.1 / 32)


def test_the_layout_block_lists_every_module_of_the_package() -> None:
    """The README's layout block names each module and folder of `allennlp_stlr/`."""
    block = next(b for b in ALL_BLOCKS if b.key == ("README.md", "allennlp_stlr/"))
    listed, folder = set(), ""
    for line in block.text.splitlines()[1:]:
        if not line.startswith("  ") or not line.strip():
            break  # the package's part of the block ends at the next top-level entry
        indent = len(line) - len(line.lstrip())
        name = line.split()[0]
        if indent == 2:
            folder = name if name.endswith("/") else ""
            listed.add(name)
        elif folder and indent == 4:
            listed.add(folder + name)
    package = ROOT / "allennlp_stlr"

    def entries(folder: Path) -> Set[str]:
        return {
            p.relative_to(package).as_posix() + ("/" if p.is_dir() else "")
            for p in folder.iterdir()
            if p.name not in ("__init__.py", "__main__.py", "__pycache__")
        }

    # tools/ is listed entry by entry, its own folders as folders.
    assert listed == entries(package) | entries(package / "tools")
