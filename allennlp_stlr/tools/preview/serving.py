"""
Which class `allennlp train` would build for the scheduler's `type` in the folder a command
runs from. A dotted type (`allennlp_stlr.SlantedTriangular`) is imported by AllenNLP itself
and is ours anywhere. The plain name "slanted_triangular" is ours only where the plugin is
loaded: a plugins file lists it (`.allennlp_plugins` in that folder, `~/.allennlp/plugins`),
or `--include-package` names it. Elsewhere AllenNLP's built-in of that name trains.
"""
from typing import List, Sequence

from allennlp.common.plugins import discover_plugins

PACKAGE = "allennlp_stlr"
DOTTED_TYPE = "allennlp_stlr.SlantedTriangular"


def _loads_us(module: str) -> bool:
    return module == PACKAGE or module.startswith(PACKAGE + ".")


def plugin_loaded_here(include_packages: Sequence[str] = ()) -> bool:
    """Whether `allennlp train` in the current folder (with these packages) imports us."""
    return any(_loads_us(name) for name in list(discover_plugins()) + list(include_packages))


def fallback_warnings(scheduler_type: str, include_packages: Sequence[str] = ()) -> List[str]:
    """A warning when training here would build AllenNLP's built-in instead of our class."""
    if "." in scheduler_type or plugin_loaded_here(include_packages):
        return []
    return [
        f'learning_rate_scheduler.type is "{scheduler_type}", but no plugins file lists '
        f"{PACKAGE} here (.allennlp_plugins in this folder, or ~/.allennlp/plugins): "
        "`allennlp train` run from this folder would train with AllenNLP's built-in "
        f"{scheduler_type}, not the schedule previewed below. Write the type as "
        f'"{DOTTED_TYPE}", which loads this package anywhere, or add `{PACKAGE}` to '
        f".allennlp_plugins, or pass `--include-package {PACKAGE}` to `allennlp train`."
    ]
