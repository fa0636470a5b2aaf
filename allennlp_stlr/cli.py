"""
The commands' names and arguments: `allennlp stlr-preview`, `allennlp stlr-groups` and
`python -m allennlp_stlr COMMAND`. Only argparse is needed to list them; each command's work
lives in `allennlp_stlr.tools` and is imported when the command runs, so that loading the
plugin (which every `allennlp` command does) loads none of it.
"""
import argparse
import importlib
from typing import Callable, Dict, Tuple

from allennlp.commands.subcommand import Subcommand

# command -> (description, module of allennlp_stlr.tools whose `run(args)` does the work)
COMMANDS: Dict[str, Tuple[str, str]] = {
    "preview": (
        "Preview the learning rates and trainable layer groups of a slanted_triangular "
        "experiment, update by update, without training.",
        "allennlp_stlr.tools.preview.command",
    ),
    "groups": (
        "Build the experiment's model and print a parameter_groups block for its optimizer: "
        "one layer group per layer, bottom to top, every trainable parameter in exactly one "
        "group.",
        "allennlp_stlr.tools.groups.command",
    ),
    "libsonnet": (
        "Print the path of the packaged stlr.libsonnet, or copy it into a folder.",
        "allennlp_stlr.tools.libsonnet",
    ),
}

# Words of the parameter names that `--no-decay` puts in a layer's weight_decay: 0 group.
NO_DECAY_WORDS = "bias, LayerNorm.weight or layer_norm.weight"


def _runner(module: str) -> Callable[[argparse.Namespace], None]:
    def run(args: argparse.Namespace) -> None:
        importlib.import_module(module).run(args)

    return run


def add_experiment_arguments(parser: argparse.ArgumentParser) -> None:
    """The experiment config and its `-o` overrides, as `allennlp train` takes them."""
    parser.add_argument("config", type=str, help="the experiment config, as for `allennlp train`")
    parser.add_argument(
        "-o",
        "--overrides",
        type=str,
        default="",
        help="a JSON structure used to override the experiment configuration, as for "
        "`allennlp train`",
    )


def add_traceback_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="on a configuration error, show the full Python traceback",
    )


def add_preview_arguments(parser: argparse.ArgumentParser) -> None:
    add_experiment_arguments(parser)
    parser.add_argument(
        "--steps-per-epoch",
        type=int,
        default=None,
        help="optimizer updates per epoch (of each worker, under distributed training), "
        "instead of counting them from the training data",
    )
    parser.add_argument("--plot", type=str, default=None, help="write a PNG plot here")
    parser.add_argument(
        "--log-y",
        action="store_true",
        help="plot the learning rate on a logarithmic scale (default: linear)",
    )
    parser.add_argument("--csv", type=str, default=None, help="write every update here")
    parser.add_argument(
        "--suggest-groups",
        action="store_true",
        help="instead of a preview, print a parameter_groups block for the model "
        "(the same as `allennlp stlr-groups CONFIG`)",
    )


def add_groups_arguments(parser: argparse.ArgumentParser) -> None:
    add_experiment_arguments(parser)
    parser.add_argument(
        "--no-decay",
        action="store_true",
        help="write each layer as two groups under its name: its other parameters, and its "
        f"biases and LayerNorm weights with weight_decay: 0 (names containing {NO_DECAY_WORDS}); "
        "slanted_triangular takes them for one layer",
    )


def add_libsonnet_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--copy-to",
        type=str,
        default=None,
        metavar="DIR",
        help="copy stlr.libsonnet into DIR (created if missing) and print the copy's path",
    )
    parser.add_argument(
        "--force", action="store_true", help="with --copy-to, replace a different stlr.libsonnet"
    )


_ARGUMENTS: Dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "preview": add_preview_arguments,
    "groups": add_groups_arguments,
    "libsonnet": add_libsonnet_arguments,
}


def add_command(commands: argparse._SubParsersAction, name: str, command: str) -> argparse.ArgumentParser:
    """Add `command` (a key of `COMMANDS`) to `commands` under `name`."""
    description, module = COMMANDS[command]
    parser = commands.add_parser(name, description=description, help=description)
    _ARGUMENTS[command](parser)
    add_traceback_argument(parser)
    parser.set_defaults(func=_runner(module))
    return parser


@Subcommand.register("stlr-preview")
class StlrPreview(Subcommand):
    """`allennlp stlr-preview CONFIG`: preview a slanted triangular schedule before training."""

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        return add_command(parser, self.name, "preview")


@Subcommand.register("stlr-groups")
class StlrGroups(Subcommand):
    """`allennlp stlr-groups CONFIG`: layer groups for a model, ready to paste."""

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        return add_command(parser, self.name, "groups")
