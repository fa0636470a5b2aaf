"""
The commands' names and arguments: `allennlp stlr-preview`, `allennlp stlr-groups`,
`allennlp stlr-find-lr` and `python -m allennlp_stlr COMMAND`. Only argparse is needed to
list them; each command's work lives in `allennlp_stlr.tools` and is imported when the
command runs, so that loading the plugin (which every `allennlp` command does) loads none
of it.
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
    "find-lr": (
        "Find the peak learning rate with a learning-rate range test: train a few steps while "
        "trainer.optimizer.lr grows exponentially, every param group keeping its ratio to it "
        "(discriminative factors, a group's own lr), and suggest a value.",
        "allennlp_stlr.tools.find_lr.command",
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


def add_find_lr_arguments(parser: argparse.ArgumentParser) -> None:
    add_experiment_arguments(parser)
    parser.add_argument(
        "-s",
        "--serialization-dir",
        required=True,
        type=str,
        metavar="DIR",
        help="write the plot (lr-losses.png) and, with --csv, lr-losses.csv here (created if "
        "missing; these two files are replaced)",
    )
    parser.add_argument(
        "--start-lr", type=float, default=1e-7, help="first value of trainer.optimizer.lr"
    )
    parser.add_argument(
        "--end-lr",
        type=float,
        default=10.0,
        help="last value of trainer.optimizer.lr, unless the loss diverges first",
    )
    parser.add_argument(
        "--num-steps", type=int, default=100, help="optimizer updates of the sweep"
    )
    parser.add_argument(
        "--smoothing",
        type=float,
        default=0.98,
        help="beta of the loss's exponential moving average, in [0, 1)",
    )
    parser.add_argument(
        "--stopping-factor",
        type=float,
        default=4.0,
        help="stop once the smoothed loss exceeds this many times its lowest",
    )
    parser.add_argument(
        "--train",
        choices=("all", "first-stage"),
        default="all",
        help="which layer groups train: all that the config's schedule trains (its last "
        "stage, the default), or only those of its first stage of gradual unfreezing",
    )
    parser.add_argument(
        "--rule",
        choices=("valley", "slide", "steepest", "minimum"),
        default="valley",
        help="the rule whose suggestion is printed last (fastai's; valley, the default, was "
        "chosen against peak rates searched on dev sets)",
    )
    parser.add_argument(
        "--csv",
        action="store_true",
        help="also write every step's rate of each param group and the loss to lr-losses.csv",
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
    "find-lr": add_find_lr_arguments,
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


@Subcommand.register("stlr-find-lr")
class StlrFindLr(Subcommand):
    """`allennlp stlr-find-lr CONFIG -s DIR`: a learning-rate range test over layer groups."""

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        return add_command(parser, self.name, "find-lr")
