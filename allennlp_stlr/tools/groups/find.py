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
the same model wrapped by DistributedDataParallel. These rules are what `groups.suggest` falls
back to when it cannot run a training batch through the model; with a batch it orders the
same units by how they run.

`groups_spanning_layers` finds param groups that are not layers at all, such as a group of
every bias and LayerNorm weight kept for `weight_decay: 0`, and `spanning_groups_message`
says what that means for the scheduler and what to do (split each layer under one name).
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
class Unit:
    """
    The smallest piece a group is made of (a layer): a module path, an RNN layer or a single
    parameter, with the regex for its parameters and `module`, the path of the module whose
    call runs it ("" for the model itself).
    """

    key: str
    regex: str
    is_block: bool
    module: str


def module_regex(path: str, whole_name: bool = False) -> str:
    """
    A regex for the parameters under module `path` (or, with `whole_name`, for the single
    parameter called `path`) that also matches under DDP's `module.` prefix.
    """
    return DDP_PREFIX + re.escape(path) + ("$" if whole_name else "\\.")


def _block_container(segments: Sequence[str]) -> Optional[int]:
    """Index of the first all-digit segment (a numbered block), if any is not the last one."""
    for index, segment in enumerate(segments[:-1]):
        if segment.isdigit() and index > 0:
            return index
    return None


def _unit(name: str, containers: Sequence[Tuple[str, ...]]) -> Unit:
    segments = name.split(".")
    index = _block_container(segments)
    if index is not None:
        path = ".".join(segments[: index + 1])
        return Unit(path, module_regex(path), True, path)
    rnn = _RNN_WEIGHT.match(segments[-1]) if len(segments) > 1 else None
    if rnn:
        parent = ".".join(segments[:-1])
        layer = rnn.group(1)
        regex = DDP_PREFIX + re.escape(parent) + f"\\.\\w+_l{layer}(_reverse)?$"
        return Unit(f"{parent}.l{layer}", regex, True, parent)
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
        owner = ".".join(segments[:-1])
        return Unit(name, module_regex(name, whole_name=True), False, owner)
    path = ".".join(segments[:depth])
    return Unit(path, module_regex(path), False, path)


def _label(unit: Unit) -> str:
    last = unit.key.split(".")
    return ".".join(last[-2:]) if unit.is_block else last[-1]


def units_of(parameters: Sequence[Tuple[str, int]]) -> List[Tuple[Unit, List[Tuple[str, int]]]]:
    """The units of `parameters` (`(name, count)` in model order), each with its parameters."""
    containers = []
    for name, _ in parameters:
        segments = name.split(".")
        index = _block_container(segments)
        if index is not None:
            containers.append(tuple(segments[:index]))
    units: Dict[str, Unit] = {}
    members: Dict[str, List[Tuple[str, int]]] = {}
    for name, count in parameters:
        unit = _unit(name, containers)
        units.setdefault(unit.key, unit)
        members.setdefault(unit.key, []).append((name, count))
    return [(unit, members[unit.key]) for unit in units.values()]


def make_groups(
    chunks: Sequence[Sequence[Unit]],
    members: Dict[str, Sequence[Tuple[str, int]]],
    head: Optional[int] = None,
) -> List[LayerGroup]:
    """
    One `LayerGroup` per chunk of units, bottom to top. Chunk `head` is labelled "head"; any
    other is labelled by its units (`a + b` for parallel ones), by full path where two units
    would get the same short label.
    """
    short = [[_label(unit) for unit in chunk] for chunk in chunks]
    counted = [label for i, labels in enumerate(short) if i != head for label in labels]
    repeated = {label for label in counted if counted.count(label) > 1}
    groups = []
    for i, chunk in enumerate(chunks):
        label = "head" if i == head else " + ".join(
            unit.key if label in repeated else label for unit, label in zip(chunk, short[i])
        )
        matched = [pair for unit in chunk for pair in members[unit.key]]
        groups.append(
            LayerGroup(
                name=label,
                regexes=tuple(unit.regex for unit in chunk),
                num_parameters=sum(count for _, count in matched),
                parameter_names=tuple(name for name, _ in matched),
            )
        )
    return groups


def suggest(parameters: Sequence[Tuple[str, int]]) -> List[LayerGroup]:
    """
    Layer groups for the trainable `parameters` (`(name, count)` in model order), bottom to
    top, that together match every parameter exactly once.
    """
    found = units_of(parameters)
    ordered = [unit for unit, _ in found]
    members = {unit.key: pairs for unit, pairs in found}
    blocks = [i for i, unit in enumerate(ordered) if unit.is_block]
    # Everything above the last numbered block (pooler, classifier, ...) is the head.
    chunks: List[List[Unit]] = [[unit] for unit in ordered]
    head = None
    if blocks and blocks[-1] < len(ordered) - 1:
        top = blocks[-1] + 1
        chunks = chunks[:top] + [ordered[top:]]
        head = len(chunks) - 1
    groups = make_groups(chunks, members, head)
    check_exactly_once([name for name, _ in parameters], groups)
    return groups


def check_exactly_once(names: Sequence[str], groups: Sequence[LayerGroup]) -> None:
    """Raise ValueError unless each of `names` is matched by exactly one group."""
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


# ---------------------------------------------------------------- groups that are not layers
def groups_spanning_layers(
    group_names: Sequence[Sequence[str]], names: Optional[Sequence[Optional[str]]] = None
) -> List[int]:
    """
    Indices of the param groups (bottom first, each given as its parameters' names) that are
    not layers: a group spans layers when its parameters lie in at least two layers (units as
    the name rules find them) and those layers are held by at least two other groups as well,
    as a group of every bias and LayerNorm weight beside per-layer groups is. Two groups that
    share at least two layers with each other and with no third group (a weight-decay group
    beside AllenNLP's default group) both span layers too. A group inside a single layer never
    does, so splitting one layer into two groups is not reported here.

    With `names` (each group's `name` option), groups that share a name are one layer and are
    judged together (a layer's decayed half and its no-decay half).
    """
    if names is not None:
        shared: Dict[str, List[int]] = {}
        for index, name in enumerate(names):
            shared.setdefault(name or f"\0{index}", []).append(index)
        merged = list(shared.values())
        held = [[n for index in layer for n in group_names[index]] for layer in merged]
        return sorted(index for j in groups_spanning_layers(held) for index in merged[j])
    everything = [(name, 1) for names in group_names for name in names]
    unit_of = {name: unit.key for unit, pairs in units_of(everything) for name, _ in pairs}
    layers = [{unit_of[name] for name in names} for names in group_names]
    holders: Dict[str, set] = {}
    for index, keys in enumerate(layers):
        for key in keys:
            holders.setdefault(key, set()).add(index)
    def others(index: int) -> set:
        return {other for key in layers[index] for other in holders[key]} - {index}

    spanning = []
    for index, keys in enumerate(layers):
        if len(keys) < 2:
            continue
        sharing = others(index)
        pair = len(sharing) == 1 and others(next(iter(sharing))) == {index} and len(
            keys & layers[next(iter(sharing))]
        ) >= 2
        if len(sharing) >= 2 or pair:
            spanning.append(index)
    return spanning


def spanning_groups_message(indices: Sequence[int], group_labels: Sequence[str]) -> str:
    """
    What groups `indices` (from `groups_spanning_layers`) mean for gradual unfreezing and
    discriminative fine-tuning, and what to do; `group_labels` names every group by index.

    The way out: split each layer into two groups under one name, which the scheduler takes
    for one layer.
    """
    named = [f"{i} ({group_labels[i]})" for i in indices]
    one = len(named) == 1
    which = named[0] if one else ", ".join(named[:-1]) + " and " + named[-1]
    subject = f"Param group {which} holds" if one else f"Param groups {which} hold"
    it, not_a_layer, that = (
        ("it", "it is not a layer", "that group") if one
        else ("each", "none of them is a layer", "those groups")
    )
    return (
        "slanted_triangular counts every optimizer param group as one layer (groups that "
        "share a `name` as one), bottom first (AllenNLP's default group, for parameters no "
        "regex matches, is last). "
        f"{subject} parameters of layers that other groups hold, so {not_a_layer}: "
        f"gradual unfreezing unfreezes {it} in an epoch of its own as if it were a layer, "
        "and discriminative fine-tuning gives parameters of different layers one decayed "
        "learning rate. To keep weight decay off biases and LayerNorm weights, remove "
        f"{that} and split each layer instead: two groups under one name, [[its weights], "
        "{name: L}] and [[its biases and LayerNorm weights], {name: L, weight_decay: 0}], "
        "which the scheduler takes for one layer. `stlr.transformerGroups(..., noDecay=true)` "
        "and `allennlp stlr-groups CONFIG --no-decay` write them "
        "(docs/switching.md#keeping-weight-decay-off-biases-and-layernorm-weights)."
    )
