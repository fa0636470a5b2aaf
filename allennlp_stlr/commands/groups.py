"""
`allennlp stlr-groups CONFIG`: build the config's model and print a `parameter_groups` block,
one layer group per layer, bottom to top, covering every trainable parameter once (found by
`allennlp_stlr.groups.suggest`).

    allennlp stlr-groups configs/transformer_classifier.jsonnet
    python -m allennlp_stlr groups configs/transformer_classifier.jsonnet
    allennlp stlr-groups configs/transformer_classifier.jsonnet --no-decay

`--no-decay` writes each layer as two groups under its name, the second holding its biases
and LayerNorm weights with `weight_decay: 0`.
"""
import argparse
import logging
import sys

from allennlp.commands.subcommand import Subcommand

from allennlp_stlr.commands.arguments import add_experiment_arguments, add_traceback_argument
from allennlp_stlr.commands.errors import reports_configuration_errors
from allennlp_stlr.groups.suggest import NO_DECAY_WORDS, format_suggestion, suggest_groups
from allennlp_stlr.preview.experiment import load_params
from allennlp_stlr.preview.failures import NeedsHub, hub_unreachable

def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    add_experiment_arguments(parser)
    parser.add_argument(
        "--no-decay",
        action="store_true",
        help="write each layer as two groups under its name: its other parameters, and its "
        "biases and LayerNorm weights with weight_decay: 0 (names containing "
        + NO_DECAY_WORDS + "); slanted_triangular takes them for one layer",
    )
    add_traceback_argument(parser)
    parser.set_defaults(func=run)
    return parser


DESCRIPTION = (
    "Build the experiment's model and print a parameter_groups block for its optimizer: one "
    "layer group per layer, bottom to top, every trainable parameter in exactly one group."
)


def print_groups(args: argparse.Namespace) -> None:
    """Print the suggested block for `args.config` (with `args.overrides`)."""
    logging.getLogger("allennlp.common.params").setLevel(logging.WARNING)
    no_decay = getattr(args, "no_decay", False)  # `stlr-preview --suggest-groups` has none
    params = load_params(args.config, args.overrides)
    try:
        suggestion = suggest_groups(params, no_decay=no_decay)
    except (OSError, ValueError) as error:
        if not hub_unreachable(error):
            raise
        raise NeedsHub(params.as_dict(quiet=True), True, error) from error
    sys.stdout.write(format_suggestion(suggestion) + "\n")


run = reports_configuration_errors("stlr-groups")(print_groups)


@Subcommand.register("stlr-groups")
class StlrGroups(Subcommand):
    """`allennlp stlr-groups CONFIG`: layer groups for a model, ready to paste."""

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=DESCRIPTION, help=DESCRIPTION)
        return add_arguments(subparser)
