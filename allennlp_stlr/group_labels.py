"""
Labels the param groups that AllenNLP's optimizers build with the regexes that made them.

A learning-rate scheduler sees only the optimizer, and AllenNLP's `make_parameter_groups`
forgets which regexes built each group. torch keeps any extra key of a param group, so
`install()` (run when `allennlp_stlr` is imported) wraps `make_parameter_groups`: every
configured group whose options have no "name" is named by its regexes, and the default group
for unmatched parameters is named as such. The scheduler's log table then says which layers
each group holds. A "name" written in the config wins.
"""
import functools
from typing import Any, Callable, Dict, List, Optional, Tuple

from allennlp.training import optimizers

DEFAULT_GROUP_NAME = "(default: parameters no regex matched)"

Groups = Optional[List[Tuple[List[str], Dict[str, Any]]]]


def _with_names(groups: Groups) -> Groups:
    if not groups:
        return groups
    named = []
    for regexes, options in groups:
        # A group AllenNLP drops (requires_grad false) would warn about an unused option.
        if "name" not in options and options.get("requires_grad") is not False:
            options = {**options, "name": " ".join(regexes)}
        named.append((regexes, options))
    return named


def _labelling(make: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(make)
    def make_parameter_groups(model_parameters: List[Tuple[str, Any]], groups: Groups = None) -> Any:
        made = make(model_parameters, _with_names(groups))
        if groups:
            made[-1].setdefault("name", DEFAULT_GROUP_NAME)
        return made

    make_parameter_groups.labels_groups = True  # type: ignore[attr-defined]
    return make_parameter_groups


def install() -> None:
    """Wrap `allennlp.training.optimizers.make_parameter_groups` once per process."""
    if not getattr(optimizers.make_parameter_groups, "labels_groups", False):
        optimizers.make_parameter_groups = _labelling(optimizers.make_parameter_groups)
