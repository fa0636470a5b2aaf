"""
`stlr-groups --no-decay` on a config shaped like allennlp-models' transformer configs (one
`weight_decay: 0` entry of every bias and LayerNorm weight): the printed block, built with
AllenNLP's own `make_parameter_groups` over the real model, puts every parameter in exactly
one group, each layer in two groups under its name, and in the `weight_decay: 0` halves
exactly the parameters the config's own no-decay entry held.
"""
import io
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import _jsonnet
import pytest
import torch
from allennlp.common.plugins import import_plugins
from allennlp.training.optimizers import make_parameter_groups

from allennlp_stlr import __main__ as entry
from benchmarks.local_model import model_dir
from allennlp_stlr.tools.config import load_params
from allennlp_stlr.tools.model import build_model
from tests.helpers import ROOT

CONFIG = "fixtures/pair_classifier.jsonnet"


@pytest.fixture(scope="module")
def printed() -> Dict[str, Any]:
    """`python -m allennlp_stlr groups CONFIG [--no-decay]` in this process, and the model."""
    out: Dict[str, Any] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        patch.setenv("STLR_MODEL", str(model_dir()))
        import_plugins()
        for key, extra in (("plain", []), ("split", ["--no-decay"])):
            with CaptureStdout() as captured:
                entry.main(["groups", CONFIG, *extra])
            out[key] = captured.text
        params = load_params(CONFIG)
        out["config_groups"] = params.as_dict()["trainer"]["optimizer"]["parameter_groups"]
        model, _ = build_model(params)
    out["parameters"] = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return out


class CaptureStdout:
    """What `sys.stdout.write` receives inside the block (the command writes there)."""

    def __enter__(self) -> "CaptureStdout":
        self._saved, self._buffer = sys.stdout, io.StringIO()
        sys.stdout = self._buffer
        return self

    def __exit__(self, *_: Any) -> None:
        sys.stdout = self._saved
        self.text = self._buffer.getvalue()


def block(text: str) -> List[Any]:
    return json.loads(_jsonnet.evaluate_snippet("printed", "{" + text + "}"))["parameter_groups"]


def held(parameters: List[Tuple[str, torch.nn.Parameter]], groups: List[Any]) -> List[List[str]]:
    """The names in each group AllenNLP builds (default group last); raises on a double match."""
    back = {id(p): n for n, p in parameters}
    return [[back[id(p)] for p in g["params"]] for g in make_parameter_groups(parameters, groups)]


def test_no_decay_comment_lines_say_what_was_done(printed: Dict[str, Any]) -> None:
    lines = printed["split"].splitlines()
    assert lines[0].startswith(
        "// 9 layer groups in 18 param groups, bottom to top, found by running one training batch"
    )
    assert lines[1].startswith("// With gradual_unfreezing, train at least 9 epochs")
    assert lines[3] == (
        "// --no-decay: each layer's biases and LayerNorm weights (names containing bias, "
        "LayerNorm.weight or layer_norm.weight, as allennlp-models' and transformers' no-decay "
        "lists pick them) are in a second group with weight_decay: 0 under the layer's name; "
        "slanted_triangular takes groups that share a name for one layer, unfrozen together "
        "with one rate. 65 tensors (31,138 parameters) without weight decay."
    )
    # 6 transformer layers of 6 biases and 2 LayerNorms (weight and bias), the embeddings'
    # LayerNorm, the feedforward's bias, the classifier's and the unused pooler's.
    assert 65 == 6 * 10 + 2 + 1 + 2
    assert "(biases and LayerNorm weights)" in lines[-2] and lines[-1] == "],"
    # Without the option, no group of the block has a decay setting.
    assert all(options.keys() == {"name"} for _, options in block(printed["plain"]))


def test_no_decay_block_splits_every_layer_and_covers_every_parameter_once(
    printed: Dict[str, Any]
) -> None:
    plain, split = block(printed["plain"]), block(printed["split"])
    names = [options["name"] for _, options in plain]
    assert [options for _, options in split] == [
        {"name": name, **extra} for name in names for extra in ({}, {"weight_decay": 0})
    ]
    for prefix in ("", "module."):
        parameters = [(prefix + n, p) for n, p in printed["parameters"]]
        *layers, default = held(parameters, plain)
        *halves, split_default = held(parameters, split)
        assert default == split_default == []
        assert [sorted(a + b) for a, b in zip(halves[0::2], halves[1::2])] == [
            sorted(layer) for layer in layers
        ]
        # The weight_decay: 0 halves hold what the config's own no-decay entry held.
        exempt, _ = held(parameters, printed["config_groups"])
        assert sorted(n for half in halves[1::2] for n in half) == sorted(exempt)
        assert all(halves)
