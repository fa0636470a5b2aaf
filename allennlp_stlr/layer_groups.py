"""
Layer groups for gradual unfreezing and discriminative fine-tuning, found from parameter
names instead of written by hand.

Everything here works on `(parameter name, parameter count)` pairs in the model's own order
(`model.named_parameters()`), so it needs no torch. A model's layers are recognised as

* numbered blocks: the first all-digit segment of a name, as in `encoder.layer.3.`,
  `layers.3.`, `h.3.`, `block.3.` or `_linear_layers.3.` (a `ModuleList`/`Sequential`);
* stacked RNN layers: `weight_ih_l3`, `bias_hh_l3_reverse`, ... (both directions together);
* whatever else sits beside numbered blocks inside the same module (a transformer's
  `embeddings`, its `pooler`), as one group per sub-module;
* every other top-level module (`_text_field_embedder`, `_seq2vec_encoder`, ...) as a group.

Groups are listed bottom to top in the order the model registers its parameters; what comes
after the last numbered block (pooler, classification layer, ...) is merged into one "head"
group. Every regex is written as `^(module\\.)?...`, so it matches both the plain model and
the same model wrapped by DistributedDataParallel.
"""
import json
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

DDP_PREFIX = "^(module\\.)?"
_RNN_WEIGHT = re.compile(r"^\w+_l(\d+)(_reverse)?$")


@dataclass(frozen=True)
class LayerGroup:
    """One suggested layer group: a readable name, its regexes and what they match."""

    name: str
    regexes: Tuple[str, ...]
    num_parameters: int
    parameter_names: Tuple[str, ...]


@dataclass(frozen=True)
class _Unit:
    """The smallest piece a group is made of: a module path (or an RNN layer) and its regex."""

    key: str
    regex: str
    is_block: bool


def module_regex(path: str, whole_name: bool = False) -> str:
    """
    A regex for the parameters under module `path` (or, with `whole_name`, for the single
    parameter called `path`) that also matches under DDP's `module.` prefix.
    """
    return DDP_PREFIX + re.escape(path) + ("$" if whole_name else "\\.")


def ddp_safe(regex: str, names: Sequence[str]) -> bool:
    """Whether `regex` still matches each name of `names` it matches once `module.` is prepended."""
    return all(re.search(regex, "module." + name) for name in names if re.search(regex, name))


def _block_container(segments: Sequence[str]) -> Optional[int]:
    """Index of the first all-digit segment (a numbered block), if any is not the last one."""
    for index, segment in enumerate(segments[:-1]):
        if segment.isdigit() and index > 0:
            return index
    return None


def _unit(name: str, containers: Sequence[Tuple[str, ...]]) -> _Unit:
    segments = name.split(".")
    index = _block_container(segments)
    if index is not None:
        path = ".".join(segments[: index + 1])
        return _Unit(path, module_regex(path), True)
    rnn = _RNN_WEIGHT.match(segments[-1]) if len(segments) > 1 else None
    if rnn:
        parent = ".".join(segments[:-1])
        layer = rnn.group(1)
        regex = DDP_PREFIX + re.escape(parent) + f"\\.\\w+_l{layer}(_reverse)?$"
        return _Unit(f"{parent}.l{layer}", regex, True)
    # Beside numbered blocks (a transformer's embeddings and pooler): split where the name
    # leaves the blocks' container, so each sibling sub-module is a unit of its own.
    depth = 1
    for container in containers:
        common = 0
        while (
            common < min(len(container), len(segments))
            and container[common] == segments[common]
        ):
            common += 1
        if common:
            depth = max(depth, common + 1)
    if depth >= len(segments):
        return _Unit(name, module_regex(name, whole_name=True), False)
    path = ".".join(segments[:depth])
    return _Unit(path, module_regex(path), False)


def _label(units: Sequence[_Unit]) -> str:
    last = units[-1].key.split(".")
    return ".".join(last[-2:]) if units[-1].is_block else last[-1]


def suggest(parameters: Sequence[Tuple[str, int]]) -> List[LayerGroup]:
    """
    Layer groups for the trainable `parameters` (`(name, count)` in model order), bottom to
    top, that together match every parameter exactly once.
    """
    names = [name for name, _ in parameters]
    containers = []
    for name in names:
        segments = name.split(".")
        index = _block_container(segments)
        if index is not None:
            containers.append(tuple(segments[:index]))
    units: Dict[str, _Unit] = {}
    members: Dict[str, List[Tuple[str, int]]] = {}
    for name, count in parameters:
        unit = _unit(name, containers)
        units.setdefault(unit.key, unit)
        members.setdefault(unit.key, []).append((name, count))
    ordered = list(units.values())
    blocks = [i for i, unit in enumerate(ordered) if unit.is_block]
    # Everything above the last numbered block (pooler, classifier, ...) is the head.
    chunks: List[List[_Unit]] = [[unit] for unit in ordered]
    head_label: Dict[int, str] = {}
    if blocks and blocks[-1] < len(ordered) - 1:
        top = blocks[-1] + 1
        chunks = chunks[:top] + [ordered[top:]]
        head_label[len(chunks) - 1] = "head"
    labels = [head_label.get(i) or _label(chunk) for i, chunk in enumerate(chunks)]
    # Two stacks can both have a "layer.0": fall back to the full path for those.
    repeated = {label for label in labels if labels.count(label) > 1}
    labels = [
        chunk[-1].key if label in repeated and i not in head_label else label
        for i, (label, chunk) in enumerate(zip(labels, chunks))
    ]
    groups = []
    for label, chunk in zip(labels, chunks):
        matched = [pair for unit in chunk for pair in members[unit.key]]
        groups.append(
            LayerGroup(
                name=label,
                regexes=tuple(unit.regex for unit in chunk),
                num_parameters=sum(count for _, count in matched),
                parameter_names=tuple(name for name, _ in matched),
            )
        )
    _check_exactly_once(names, groups)
    return groups


def _check_exactly_once(names: Sequence[str], groups: Sequence[LayerGroup]) -> None:
    # The same rule as AllenNLP's `make_parameter_groups`: `re.search`, one group per name.
    for name in names:
        hits = [g.name for g in groups if any(re.search(r, name) for r in g.regexes)]
        if len(hits) != 1:
            raise ValueError(f"{name} is matched by {len(hits)} suggested groups: {hits}")


def format_parameter_groups(groups: Sequence[LayerGroup]) -> str:
    """A `parameter_groups` entry ready to paste into a Jsonnet optimizer block."""
    lines = [
        "// Bottom to top; every trainable parameter in exactly one group.",
        "parameter_groups: [",
    ]
    for group in groups:
        regexes = ", ".join(json.dumps(r) for r in group.regexes)
        lines.append(
            f"  [[{regexes}], {{ name: {json.dumps(group.name)} }}],"
            f"  // {group.num_parameters:,} parameters"
        )
    lines.append("],")
    return "\n".join(lines)
