"""
What several test modules build: the repository root, real `allennlp train` runs (killed
ones too) and their `stlr_trace` logs, the commands run in this process (`run_main`), a tiny
three-layer model, a stand-in RoBERTa and a tiny BERT, and optimizers and schedulers built from `Params` the
way AllenNLP builds them.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import pytest
import torch
from transformers import BertConfig, BertModel, RobertaConfig, RobertaModel, RobertaTokenizer
from allennlp.common import Params
from allennlp.training.learning_rate_schedulers import LearningRateScheduler
from allennlp.training.optimizers import Optimizer, make_parameter_groups

import allennlp_stlr  # noqa: F401  (registers our "slanted_triangular")
from allennlp_stlr import __main__ as entry
from allennlp_stlr.tools.groups.find import LayerGroup
from allennlp_stlr.tools.preview.simulate import Backward, Point, Seen, Update, trainer_steps
from allennlp_stlr.scheduler import SlantedTriangular

ROOT = Path(__file__).resolve().parent.parent
TINY_BERT_SIZE = 8  # hidden size of `save_tiny_bert`
ALLENNLP = str(Path(sys.executable).with_name("allennlp"))
# The fixture run of the resume tests: 160 instances, 10 updates per epoch, 4 epochs.
RESUME_CONFIG = ROOT / "fixtures" / "experiment_resume.jsonnet"


def allennlp_train(*args: str, cwd: Path = ROOT, **env: str) -> "subprocess.CompletedProcess[str]":
    """`allennlp train ARGS` in `cwd` (default: the root, whose `.allennlp_plugins` loads us)."""
    return subprocess.run(
        [ALLENNLP, "train", *args],
        cwd=cwd,
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
    )


def run_main(capsys: pytest.CaptureFixture, *argv: str) -> Dict[str, Any]:
    """`python -m allennlp_stlr ARGV` in this process: exit code, stdout, stderr."""
    code = 0
    try:
        entry.main(list(argv))
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    captured = capsys.readouterr()
    # Progress bars of AllenNLP's data loading also go to stderr; the report is what follows.
    lines = captured.err.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"[\w-]+: error: ", line)), 0)
    return {"code": code, "out": captured.out, "err": "\n".join(lines[start:])}


def read_lines(path: Path) -> List[Dict[str, Any]]:
    """Every line of a JSON-lines file (a `stlr_trace`, a parameter digest), in order,
    repeats included."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def read_trace(path: Path) -> Dict[int, Dict[str, Any]]:
    """The `stlr_trace` lines by update; after a recover the last line for an update wins."""
    return {line["update"]: line for line in read_lines(path)}


def full_trace(run: Path, updates: int) -> Dict[int, Dict[str, Any]]:
    """The `stlr_trace` of the run in `run` by update, which must hold updates 1..`updates`."""
    trace = read_trace(run / "stlr_trace.jsonl")
    assert sorted(trace) == list(range(1, updates + 1))
    return trace


def killed_at(config: Path, folder: Path, update: int, **callback: Any) -> Path:
    """`config` with the `sigkill_at_update` callback (tests/fault_injection.py) added, which
    kills training after `update`; written to `folder/killed.jsonnet`."""
    kill = json.dumps({"type": "sigkill_at_update", "update": update, **callback})
    path = folder / "killed.jsonnet"
    path.write_text(f"(import '{config}') + {{ trainer+: {{ callbacks+: [{kill}] }} }}")
    return path


def schedule_of(trace: Dict[int, Dict[str, Any]]) -> Dict[int, Tuple[List[float], List[bool]]]:
    """(learning rates, trainable flags) per update of a trace."""
    return {update: (line["lr"], line["trainable"]) for update, line in trace.items()}


class Tiny(torch.nn.Module):
    """Three layers, named so that AllenNLP-style `parameter_groups` regexes can pick them."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Linear(3, 4)
        self.encoder = torch.nn.Linear(4, 4)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.encoder(self.embed(x))))


# `Tiny`'s optimizer as a config gives it: one layer group per module, bottom first.
TINY_OPTIMIZER = {
    "type": "adam",
    "lr": 0.01,
    "parameter_groups": [[["^embed\\."], {}], [["^encoder\\."], {}], [["^head\\."], {"lr": 0.02}]],
}


def layered_optimizer(
    num_layers: int, default_size: int = 0, empty: Sequence[int] = (), lr: float = 0.1
) -> Tuple[torch.optim.Optimizer, List[torch.nn.Parameter]]:
    """An AllenNLP optimizer with one `parameter_groups` entry per layer, bottom first."""
    torch.manual_seed(0)
    named = [
        (f"layer{i}.weight", torch.nn.Parameter(torch.randn(3)))
        for i in range(num_layers)
        if i not in empty  # its group's regex then matches nothing
    ]
    named += [(f"head{i}.weight", torch.nn.Parameter(torch.randn(2))) for i in range(default_size)]
    groups = [[[f"^layer{i}\\."], {}] for i in range(num_layers)]
    optimizer = Optimizer.from_params(
        model_parameters=named,
        params=Params({"type": "sgd", "lr": lr, "parameter_groups": groups}),
    )
    return optimizer, [p for _, p in named]


def drive(
    scheduler: LearningRateScheduler,
    optimizer: torch.optim.Optimizer,
    epoch_lengths: Sequence[int],
    start: Point = (0, 0),
    before: Optional[Callable[[int], None]] = None,
    after: Optional[Callable[[int, List[int]], None]] = None,
    at_epoch_end: Optional[Callable[[List[int]], None]] = None,
) -> List[Seen]:
    """
    The shipped driver (`trainer_steps`, the trainer's call order) with a test's own work at
    its points: `before(t)` for update t's forward and backward pass, `after(t, epoch_ends)`
    for the optimizer step (checks, checkpoints), `at_epoch_end(epoch_ends)` after `step()`.
    """
    seen: List[Seen] = []
    for step in trainer_steps(scheduler, optimizer, epoch_lengths, start):
        if isinstance(step, Backward):
            if before is not None:
                before(step.update)
        elif isinstance(step, Update):
            seen.append(step.seen)
            if after is not None:
                after(step.update, step.epoch_ends)
        elif at_epoch_end is not None:
            at_epoch_end(step.epoch_ends)
    return seen


def build(optimizer: torch.optim.Optimizer, **config: Any) -> SlantedTriangular:
    """Build from `Params` exactly as the trainer's `Lazy` construction does."""
    return LearningRateScheduler.from_params(
        optimizer=optimizer, params=Params({"type": "slanted_triangular", **config})
    )


def make_optimizer(sizes: List[int], lrs: List[float]) -> torch.optim.Optimizer:
    """An SGD whose param groups hold one tensor of each size (none for 0), at these rates;
    the last group stands for AllenNLP's default group."""
    groups = [
        {"params": [torch.nn.Parameter(torch.zeros(size))] if size else [], "lr": lr}
        for size, lr in zip(sizes, lrs)
    ]
    return torch.optim.SGD(groups, lr=lrs[-1])


def rates(bases: Sequence[float], fraction: float, ratio: float) -> List[float]:
    """ULMFiT's learning rates `fraction` of the way from `base / ratio` up to each base."""
    return [base * (1 + fraction * (ratio - 1)) / ratio for base in bases]


def groups_by_allennlp(
    names: Sequence[str], groups: Sequence[LayerGroup], prefix: str = ""
) -> List[List[str]]:
    """Which names AllenNLP puts in each configured group (and the default group, last)."""
    params = {prefix + name: torch.nn.Parameter(torch.zeros(1)) for name in names}
    built = make_parameter_groups(
        list(params.items()), [[list(g.regexes), {"name": g.name}] for g in groups]
    )
    back = {id(p): name for name, p in params.items()}
    return [[back[id(p)] for p in group["params"]] for group in built]


def assert_exactly_once(pairs: Sequence[Tuple[str, int]], groups: Sequence[LayerGroup]) -> None:
    """Every name of `pairs` lands in exactly one group, plainly and under DDP's prefix."""
    names = [name for name, _ in pairs]
    for prefix in ("", "module."):
        *configured, default = groups_by_allennlp(names, groups, prefix)
        assert default == []
        assert all(configured)
        assert sorted(n for group in configured for n in group) == sorted(prefix + n for n in names)
        assert configured == [[prefix + n for n in g.parameter_names] for g in groups]
    assert [g.num_parameters for g in groups] == [
        sum(count for name, count in pairs if name in g.parameter_names) for g in groups
    ]


def save_tiny_roberta(folder: Path, num_layers: int = 24) -> Path:
    """A RoBERTa with roberta-large's parameter names and layer count, and a tokenizer, in
    `folder`, loadable by `pretrained_transformer` and `bert_pooler` from there."""
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokens = specials + list("abcdefghijklmnopqrstuvwxyz") + ["Ġ"]  # "Ġ": a space, byte-level
    vocab = {token: i for i, token in enumerate(tokens)}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    RobertaTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt")).save_pretrained(folder)
    config = RobertaConfig(
        vocab_size=len(vocab), hidden_size=8, num_hidden_layers=num_layers,
        num_attention_heads=2, intermediate_size=16, max_position_embeddings=72, type_vocab_size=1,
    )
    with torch.random.fork_rng():  # the same weights every time, the caller's seed untouched
        torch.manual_seed(0)
        RobertaModel(config).save_pretrained(folder)
    return folder


def save_tiny_bert(folder: Path) -> Path:
    """A 6-layer BERT of all-MiniLM-L6-v2's parameter names and tokenizer, with hidden size
    8, in `folder`: the shipped transformer config's groups at a fraction of its cost (set
    `model.seq2vec_encoder.embedding_dim` to 8)."""
    from benchmarks.local_model import model_dir

    source = model_dir()
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(source / name, folder / name)
    config = BertConfig(
        vocab_size=30522, hidden_size=TINY_BERT_SIZE, num_hidden_layers=6,
        num_attention_heads=2, intermediate_size=16,
    )  # fmt: skip
    with torch.random.fork_rng():  # the same weights every time, the caller's seed untouched
        torch.manual_seed(0)
        BertModel(config).save_pretrained(folder)
    return folder


def run_optimized(request: Any, probe: str, cases: Any) -> List[Any]:
    """`python -O -c probe CASES_JSON` from the root: the JSON line it prints per case. Its `-O`
    bytecode is kept in pytest's cache (when there is one), so only the first run compiles
    allennlp and torch for `-O`."""
    cache = getattr(request.config, "cache", None)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    if cache is not None:
        env["PYTHONPYCACHEPREFIX"] = str(cache.mkdir("pycache-optimized"))
    done = subprocess.run(
        [sys.executable, "-O", "-c", probe, json.dumps(cases)],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]
