"""
Names for what AllenNLP's optimizers build: each param group by its regexes, and each
parameter by its name in the model.

A learning-rate scheduler sees only the optimizer: tensors in param groups. AllenNLP's
`make_parameter_groups` knows the regexes of each group and the name of each parameter, then
forgets both. `install()` (the first thing `import allennlp_stlr` does) wraps that function,
so that

- every configured group whose options have no "name" is named by its regexes, and the
  default group for unmatched parameters is named as such (`DEFAULT_GROUP_NAME`); a "name"
  written in the config wins. torch keeps any extra key of a param group, so the scheduler's
  log table can say which layers each group holds;
- the name of every parameter it is given is recorded, so that `names_of(params)` can tell
  the scheduler what the tensors of a param group are called.

Why a wrapper of the function rather than anything else: the trainer passes the scheduler
only the optimizer (`Lazy.construct(optimizer=..., num_epochs=..., num_steps_per_epoch=...)`),
so names cannot reach it through the config; and `make_parameter_groups` is the one place
where every AllenNLP optimizer (`multi` and its nested optimizers included) turns
`(name, parameter)` pairs into param groups. Each optimizer calls it through the global name
of `allennlp.training.optimizers`, so replacing that module attribute reaches all of them,
whenever they were imported. A module that bound the function itself
(`from allennlp.training.optimizers import make_parameter_groups`) before `install()` ran
keeps the original; `allennlp_stlr` therefore installs before importing any module of its
own. Groups it builds then carry no name and `names_of` answers `None` for their tensors:
names are labels for logs and diagnostics, never needed for the schedule itself.

Parameters are recorded by `id()`, each with a weak reference that confirms the entry still
belongs to the same tensor, and a `weakref.finalize` removes the entry when the tensor is
freed. (A `weakref.WeakKeyDictionary` would compare tensors with `==` on lookup.)
"""
import functools
import weakref
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from allennlp.training import optimizers

DEFAULT_GROUP_NAME = "(default: parameters no regex matched)"

Groups = Optional[List[Tuple[List[str], Dict[str, Any]]]]

# id(parameter) -> (weak reference to that parameter, its name in the model)
_names: Dict[int, Tuple["weakref.ref[torch.Tensor]", str]] = {}


def _forget(key: int) -> None:
    _names.pop(key, None)


def record_names(model_parameters: Sequence[Tuple[str, torch.Tensor]]) -> None:
    """Remember the name of each parameter; a later name for the same tensor replaces it."""
    for name, parameter in model_parameters:
        key = id(parameter)
        known = _names.get(key)
        if known is None or known[0]() is not parameter:
            weakref.finalize(parameter, _forget, key)
        _names[key] = (weakref.ref(parameter), name)


def names_of(params: Sequence[torch.Tensor]) -> List[Optional[str]]:
    """
    The model's name for each tensor, as the optimizer saw it (with DDP's `module.` prefix
    under distributed training), or `None` for a tensor that never went through AllenNLP's
    `make_parameter_groups` since `install()`.
    """
    found: List[Optional[str]] = []
    for parameter in params:
        known = _names.get(id(parameter))
        found.append(known[1] if known is not None and known[0]() is parameter else None)
    return found


def configured_name(regexes: Sequence[str], options: Dict[str, Any]) -> str:
    """The name of a configured param group: its `name` option, else its regexes."""
    return str(options.get("name", " ".join(regexes)))


def _with_names(groups: Groups) -> Groups:
    if not groups:
        return groups
    named = []
    for regexes, options in groups:
        # A group AllenNLP drops (requires_grad false) would warn about an unused option.
        if "name" not in options and options.get("requires_grad") is not False:
            options = {**options, "name": configured_name(regexes, options)}
        named.append((regexes, options))
    return named


def _labelling(make: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(make)
    def make_parameter_groups(
        model_parameters: List[Tuple[str, torch.nn.Parameter]], groups: Groups = None
    ) -> Any:
        model_parameters = list(model_parameters)  # read twice
        made = make(model_parameters, _with_names(groups))
        record_names(model_parameters)
        if groups:
            # AllenNLP never drops the trailing default group: it has no requires_grad key.
            made[-1].setdefault("name", DEFAULT_GROUP_NAME)
        return made

    make_parameter_groups.labels_groups = True  # type: ignore[attr-defined]
    return make_parameter_groups


def install() -> None:
    """Wrap `allennlp.training.optimizers.make_parameter_groups` once per process."""
    if not getattr(optimizers.make_parameter_groups, "labels_groups", False):
        optimizers.make_parameter_groups = _labelling(optimizers.make_parameter_groups)
