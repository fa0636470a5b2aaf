"""
Layer groups for a model, found by running one training batch through it.

`suggest_groups` builds the experiment's model and training loader as `allennlp train` does,
runs ONE batch forward and backward (`model(**batch)["loss"].backward()`, as the trainer does)
and records, with a forward pre-hook and a forward hook on every sub-module, the order in which
modules first run and the autograd node of every tensor they return. The units are those of the
name rules in `allennlp_stlr.tools.groups.find` (numbered blocks, RNN layers, other modules); the
batch tells how they are connected and which parameters learn:

* Unit B *reads* unit A when B first ran after A and an output of A is an ancestor of an output
  of B in the autograd graph (through any functional operations in between). RNN layers of one
  module run in one call, so each reads the one below it.
* A unit's *level* is the length of the longest chain of readers above it: 0 for units whose
  output no other unit reads (the classifier), 1 for what only level-0 units read, and so on.
  Units of one level form one group, and groups go from the highest level (bottom) to level 0,
  the "head". So a chain of layers is one group per layer in the order they ran, and parallel
  branches (two feedforwards reading the same encoder output and summed) share a group
  instead of being stacked as if one fed the other. A unit that reads no other unit but feeds
  one near the top (a distance embedding) sits just below its reader, where gradual
  unfreezing trains it early.
* Parameters that got no gradient are unused (a transformer's pooler under a `cls_pooler`):
  they never change, so they never get a group of their own (a wasted epoch of gradual
  unfreezing, one more decay factor for every layer below). Units with no used parameter go to
  the head; the names are reported either way.

When no batch can be read (no training data, an empty data set, no "loss" in the model's
output), the suggestion falls back to the name rules alone, and says so.

With `no_decay`, every layer is written as two param groups under the layer's name: its other
parameters, and its biases and LayerNorm weights with `weight_decay: 0` (`split_no_decay`). The
scheduler takes groups that share a name for one layer.
"""
import inspect
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.util import prepare_environment
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.training.optimizers import Optimizer

from allennlp_stlr.layers import label_groups
from allennlp_stlr.tools.groups import find as layer_groups
from allennlp_stlr.tools.groups.find import LayerGroup, Unit
from allennlp_stlr.tools.model import build_model

TRACED = "traced"
NAMES = "names"
# The parameters that weight decay leaves alone, as allennlp-models' no-decay entry
# (`["bias", "LayerNorm\\.weight", "layer_norm\\.weight"]`, matched with `re.search`) and
# transformers' `no_decay` list pick them: the same regex as `stlr.libsonnet`'s `noDecayRegex`.
NO_DECAY = r".*(bias|LayerNorm\.weight|layer_norm\.weight)"
NO_DECAY_WORDS = "bias, LayerNorm.weight or layer_norm.weight"


@dataclass(frozen=True)
class Suggestion:
    """Suggested layer groups, bottom to top, and how they were found."""

    groups: List[LayerGroup]
    unused: List[str]  # trainable parameters that got no gradient from the traced batch
    method: str  # TRACED or NAMES
    reason: str = ""  # why the name rules were used, when they were
    notes: List[str] = field(default_factory=list)  # about the config's own parameter_groups
    # With `no_decay`: for each group, whether it is a layer's `weight_decay: 0` half.
    exempt: Optional[List[bool]] = None


class _NoBatch(Exception):
    """No training batch could be run; the message says why."""


# ----------------------------------------------------------------------------- tracing
def _nodes(value: Any, depth: int = 0) -> Iterator[Any]:
    """The autograd nodes of the tensors in a module's inputs or outputs."""
    if isinstance(value, torch.Tensor):
        if value.grad_fn is not None:
            yield value.grad_fn
    elif depth < 4 and isinstance(value, dict):
        for item in value.values():
            yield from _nodes(item, depth + 1)
    elif depth < 4 and isinstance(value, (list, tuple)):
        for item in value:
            yield from _nodes(item, depth + 1)


@dataclass
class _Trace:
    first_run: Dict[str, int]  # module path -> position of its first call
    outputs: Dict[str, List[Any]]  # module path -> autograd nodes it returned
    ancestors: Dict[str, Set[Any]]  # unit key -> nodes its outputs derive from
    used: Set[str]  # trainable parameters that got a gradient


def _run(model: Model, batch: Dict[str, Any], units: Sequence[Unit]) -> _Trace:
    first_run: Dict[str, int] = {}
    outputs: Dict[str, List[Any]] = defaultdict(list)
    inputs: Dict[str, Set[Any]] = defaultdict(set)
    handles = []
    for path, module in model.named_modules():
        if not path:
            continue

        def before(_: torch.nn.Module, args: Any, path: str = path) -> None:
            first_run.setdefault(path, len(first_run))
            inputs[path].update(_nodes(args))

        def after(_: torch.nn.Module, args: Any, output: Any, path: str = path) -> None:
            # A module that hands back its input (a mask, a residual) did not make it.
            outputs[path].extend(n for n in _nodes(output) if n not in inputs[path])

        handles.append(module.register_forward_pre_hook(before))
        handles.append(module.register_forward_hook(after))
    model.train()
    model.zero_grad(set_to_none=True)
    try:
        output = model(**batch)
    finally:
        for handle in handles:
            handle.remove()
    loss = output.get("loss") if isinstance(output, dict) else None
    if not isinstance(loss, torch.Tensor) or loss.grad_fn is None:
        raise _NoBatch('the model\'s output on a training batch has no "loss" to differentiate')
    # Walk the graph before backward() frees it.
    ancestors = {unit.key: _ancestors(_unit_outputs(unit, outputs)) for unit in units}
    loss.backward()
    used = {
        name
        for name, parameter in model.named_parameters()
        if parameter.requires_grad and parameter.grad is not None
    }
    return _Trace(dict(first_run), dict(outputs), ancestors, used)


def _within(path: str, module: str) -> bool:
    return not module or path == module or path.startswith(module + ".")


def _unit_outputs(unit: Unit, outputs: Dict[str, List[Any]]) -> List[Any]:
    if unit.module in outputs:
        return outputs[unit.module]
    # Only some sub-modules ran (a ModuleList's members): their outputs stand for the unit.
    return [node for path, nodes in outputs.items() if _within(path, unit.module) for node in nodes]


def _ancestors(starts: Sequence[Any]) -> Set[Any]:
    seen: Set[Any] = set()
    stack = list(starts)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(n for n, _ in node.next_functions if n is not None)
    return seen


def _first_run(unit: Unit, trace: _Trace) -> Optional[int]:
    runs = [i for path, i in trace.first_run.items() if _within(path, unit.module)]
    return min(runs) if runs and unit.module else None


def _levels(units: Sequence[Unit], first_run: Dict[str, int], trace: _Trace) -> Dict[str, int]:
    """Level 0 for units no other unit reads; otherwise 1 + the highest level of a reader."""
    ordered = sorted(units, key=lambda unit: first_run[unit.key])
    level: Dict[str, int] = {}
    for position in range(len(ordered) - 1, -1, -1):
        unit = ordered[position]
        own = set(_unit_outputs(unit, trace.outputs))
        readers = [
            later
            for later in ordered[position + 1:]
            if (later.module == unit.module)  # RNN layers of one call: each reads the one below
            or (own & trace.ancestors[later.key])
        ]
        level[unit.key] = 1 + max((level[r.key] for r in readers), default=-1)
    return level


def traced_groups(
    parameters: Sequence[Tuple[str, int]], trace: _Trace
) -> Tuple[List[LayerGroup], List[str], List[str]]:
    """(groups bottom to top, unused parameter names, notes) for a traced batch."""
    found = layer_groups.units_of(parameters)
    members = {unit.key: pairs for unit, pairs in found}
    unused = [name for name, _ in parameters if name not in trace.used]
    learning = [unit for unit, pairs in found if any(name in trace.used for name, _ in pairs)]
    idle = [unit for unit, _ in found if unit not in learning]
    runs = {unit.key: _first_run(unit, trace) for unit in learning}
    # A parameter that learns without any module call around it (one of the model's own)
    # cannot be placed by the trace: it goes with the head.
    untraced = [unit for unit in learning if runs[unit.key] is None]
    placed = [unit for unit in learning if runs[unit.key] is not None]
    timed: Dict[str, int] = {unit.key: runs[unit.key] for unit in placed}  # type: ignore[misc]
    level = _levels(placed, timed, trace)
    top = max(level.values(), default=0)
    chunks: List[List[Unit]] = [
        sorted((u for u in placed if level[u.key] == depth), key=lambda u: timed[u.key])
        for depth in range(top, -1, -1)
    ]
    chunks[-1] = chunks[-1] + untraced + idle
    notes = []
    if untraced:
        notes.append(
            "Put with the head, since no module call runs them: "
            + ", ".join(unit.key for unit in untraced)
            + "."
        )
    groups = layer_groups.make_groups(chunks, members, head=len(chunks) - 1)
    # Names in model order, as AllenNLP's make_parameter_groups lists each group's parameters.
    position = {name: i for i, (name, _) in enumerate(parameters)}
    groups = [
        replace(group, parameter_names=tuple(sorted(group.parameter_names, key=position.get)))
        for group in groups
    ]
    layer_groups.check_exactly_once([name for name, _ in parameters], groups)
    return groups, unused, notes


# ----------------------------------------------------------------------------- no decay
def exempt_from_decay(name: str) -> bool:
    """Whether weight decay leaves the parameter `name` alone (a bias or a LayerNorm weight)."""
    return re.match(NO_DECAY, name) is not None


def narrowed(regex: str, exempt: bool) -> str:
    """`regex` (starting with `^`) for only the names it matches that are (not) exempt."""
    if not regex.startswith("^"):
        raise ValueError(f"a regex to split must start with ^: {regex}")
    # A lookahead at the start reads the whole name, so the halves of any regex (a module,
    # one parameter, an RNN layer) share out what it matches, with or without `module.`.
    return ("^(?=" if exempt else "^(?!") + NO_DECAY + ")" + regex[1:]


def split_no_decay(
    groups: Sequence[LayerGroup], sizes: Dict[str, int]
) -> Tuple[List[LayerGroup], List[bool]]:
    """
    Each layer of `groups` as its other parameters, then its biases and LayerNorm weights,
    both under the layer's name, with whether each half is exempt; a half with no parameters
    is left out (its regexes would match nothing). `sizes` counts each parameter's entries.
    """
    halves: List[LayerGroup] = []
    exempt: List[bool] = []
    for group in groups:
        for off in (False, True):
            names = tuple(n for n in group.parameter_names if exempt_from_decay(n) == off)
            if names:
                halves.append(LayerGroup(
                    name=group.name,
                    regexes=tuple(narrowed(regex, off) for regex in group.regexes),
                    num_parameters=sum(sizes[n] for n in names),
                    parameter_names=names,
                ))
                exempt.append(off)
    layer_groups.check_exactly_once(list(sizes), halves)
    return halves, exempt


def _no_decay_notes(suggestion: Suggestion, params: Params) -> List[str]:
    exempt = suggestion.exempt or []
    kinds: Dict[str, Set[bool]] = defaultdict(set)  # layer name -> which halves it has
    for group, off in zip(suggestion.groups, exempt):
        kinds[group.name].add(off)
    held = sum(g.num_parameters for g, off in zip(suggestion.groups, exempt) if off)
    tensors = sum(len(g.parameter_names) for g, off in zip(suggestion.groups, exempt) if off)
    notes = [
        f"--no-decay: each layer's biases and LayerNorm weights (names containing "
        f"{NO_DECAY_WORDS}, as allennlp-models' and transformers' no-decay lists pick them) "
        "are in a second group with weight_decay: 0 under the layer's name; slanted_triangular "
        "takes groups that share a name for one layer, unfrozen together with one rate. "
        f"{tensors} tensors ({held:,} parameters) without weight decay."
    ]
    single = [
        name + (" (no biases or LayerNorm weights)" if kinds[name] == {False}
                else " (only biases and LayerNorm weights)")
        for name in dict.fromkeys(g.name for g in suggestion.groups)
        if len(kinds[name]) == 1
    ]
    if single:
        notes.append("In one group, as there is nothing to split: " + ", ".join(single) + ".")
    if not _optimizer_weight_decay(params):
        notes.append(
            "The config's optimizer has weight_decay 0, so the other groups are not decayed "
            "either: set trainer.optimizer.weight_decay (e.g. 0.01) for them."
        )
    return notes


def _optimizer_weight_decay(params: Params) -> float:
    """The optimizer's `weight_decay`: the config's, else the optimizer's own default."""
    optimizer = params.as_dict(quiet=True).get("trainer", {}).get("optimizer", {})
    if isinstance(optimizer, str):
        optimizer = {"type": optimizer}
    if "weight_decay" in optimizer:
        return float(optimizer["weight_decay"])
    try:
        constructor = Optimizer.by_name(optimizer.get("type", Optimizer.default_implementation))
    except ConfigurationError:
        return 1.0  # an optimizer this process does not know: say nothing
    default = inspect.signature(constructor.__init__).parameters.get("weight_decay")
    return float(default.default) if default is not None else 0.0


# ----------------------------------------------------------------------------- suggestion
def model_without_data(params: Params) -> Model:
    """The model from the config's vocabulary alone (empty when it needs the data)."""
    params = params.duplicate()
    prepare_environment(params)
    vocabulary_params = params.pop("vocabulary", Params({}))
    if vocabulary_params.get("type") in {"empty", "from_files", "from_pretrained_transformer"}:
        vocabulary = Vocabulary.from_params(vocabulary_params)
    else:
        vocabulary = Vocabulary()
    return Model.from_params(params=params.pop("model"), vocab=vocabulary, serialization_dir=None)


def _config_groups(
    config: Dict[str, Any], names: Sequence[str]
) -> List[Tuple[str, Dict[str, Any], List[str]]]:
    """The config's own param groups: (label, options, parameter names), default group last,
    matched as AllenNLP's `make_parameter_groups` matches them (first matching group here;
    AllenNLP refuses a name that two groups match when it trains)."""
    optimizer = config.get("trainer", {}).get("optimizer", {})
    configured = optimizer.get("parameter_groups") if isinstance(optimizer, dict) else None
    if not configured:
        return []
    configured = [(list(regexes), dict(options)) for regexes, options in configured]
    held: List[List[str]] = [[] for _ in range(len(configured) + 1)]
    for name in names:
        hits = [
            i for i, (regexes, _) in enumerate(configured)
            if any(re.search(regex, name) for regex in regexes)
        ]
        held[hits[0] if hits else -1].append(name)
    options = [options for _, options in configured] + [{}]
    labels = label_groups([entry.get("name") for entry in options])
    return list(zip(labels, options, held))


def _notes_on_config(params: Params, names: Sequence[str]) -> List[str]:
    groups = _config_groups(params.as_dict(quiet=True), names)
    notes = []
    with_options = [
        f"{i} ({label}: {', '.join(f'{k}={v}' for k, v in options.items() if k != 'name')})"
        for i, (label, options, _) in enumerate(groups)
        if any(key != "name" for key in options)
    ]
    if with_options:
        notes.append(
            "The config's own parameter_groups set options that the groups below do not carry: "
            + "; ".join(with_options)
            + ". Pasting the block replaces them; add the options you need to each group."
        )
    spanning = layer_groups.groups_spanning_layers(
        [held for _, _, held in groups], [options.get("name") for _, options, _ in groups]
    )
    if spanning:
        notes.append(
            layer_groups.spanning_groups_message(spanning, [label for label, _, _ in groups])
        )
    return notes


def suggest_groups(params: Params, no_decay: bool = False) -> Suggestion:
    """
    Layer groups for the model of the experiment `params`, bottom to top, found by tracing one
    training batch, or from parameter names alone when no batch can be run; with `no_decay`,
    each layer in two groups (`split_no_decay`).
    """
    suggestion, parameters = _suggest_layers(params)
    if not no_decay:
        return suggestion
    halves, exempt = split_no_decay(suggestion.groups, dict(parameters))
    split = replace(suggestion, groups=halves, exempt=exempt)
    return replace(split, notes=_no_decay_notes(split, params) + split.notes)


def _suggest_layers(params: Params) -> Tuple[Suggestion, List[Tuple[str, int]]]:
    reason = ""
    try:
        model, loader = build_model(params)
        try:
            batch = next(iter(loader))
        except StopIteration:
            raise _NoBatch("the training data set is empty") from None
    except OSError as error:
        reason = f"the training data cannot be read ({error})"
        model = model_without_data(params)
    except _NoBatch as error:
        reason = str(error)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not trainable:
        raise ConfigurationError(
            "The model has no trainable parameters, so there are no layer groups to suggest; "
            "check `requires_grad` and the `train_parameters` settings of its embedders."
        )
    parameters = [(name, p.numel()) for name, p in trainable]
    notes = _notes_on_config(params, [name for name, _ in parameters])
    if not reason:
        units = [unit for unit, _ in layer_groups.units_of(parameters)]
        try:
            trace = _run(model, batch, units)
        except _NoBatch as error:
            reason = str(error)
        else:
            groups, unused, more = traced_groups(parameters, trace)
            return Suggestion(groups, unused, TRACED, "", more + notes), parameters
    return Suggestion(layer_groups.suggest(parameters), [], NAMES, reason, notes), parameters


def format_suggestion(suggestion: Suggestion) -> str:
    """The suggestion as Jsonnet comments and a ready-to-paste `parameter_groups` block."""
    count = len(dict.fromkeys(group.name for group in suggestion.groups))
    if suggestion.method == TRACED:
        how = (
            "found by running one training batch through the model: groups follow the order "
            "in which the layers ran, and layers on parallel branches share a group"
        )
    else:
        how = f"found from parameter names only, since {suggestion.reason}"
    split = "" if suggestion.exempt is None else f" in {len(suggestion.groups)} param groups"
    lines = [
        f"// {count} layer groups{split}, bottom to top, {how}.",
        f"// With gradual_unfreezing, train at least {count} epochs, or unfreeze within epochs "
        "with unfreeze_every_num_updates.",
    ]
    if suggestion.unused:
        lines.append(
            f"// Unused: {len(suggestion.unused)} parameters got no gradient from a training "
            f"batch ({', '.join(suggestion.unused)}). They never change in training, so they "
            "are in the head rather than a group of their own, which would waste an epoch of "
            "gradual unfreezing and add a decay factor to every layer below with "
            "discriminative fine-tuning."
        )
    lines += [f"// {note}" for note in suggestion.notes]
    if suggestion.exempt is None:
        block = layer_groups.format_parameter_groups(suggestion.groups)
    else:
        block = format_split_groups(suggestion.groups, suggestion.exempt)
    return "\n".join(lines) + "\n" + block


def format_split_groups(groups: Sequence[LayerGroup], exempt: Sequence[bool]) -> str:
    """`split_no_decay`'s groups as a `parameter_groups` entry ready to paste."""
    lines = [
        "// Bottom to top; every trainable parameter in exactly one group; groups that share a "
        "name are one layer.",
        "parameter_groups: [",
    ]
    for group, off in zip(groups, exempt):
        regexes = ", ".join(json.dumps(r) for r in group.regexes)
        options = f"name: {json.dumps(group.name)}" + (", weight_decay: 0" if off else "")
        what = " (biases and LayerNorm weights)" if off else ""
        lines.append(
            f"  [[{regexes}], {{ {options} }}],  // {group.num_parameters:,} parameters{what}"
        )
    lines.append("],")
    return "\n".join(lines)
