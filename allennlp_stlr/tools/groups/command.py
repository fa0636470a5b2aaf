"""
`allennlp stlr-groups CONFIG`: build the config's model and print a `parameter_groups` block,
one layer group per layer, bottom to top, covering every trainable parameter once (found by
`allennlp_stlr.tools.groups.suggest`).

    allennlp stlr-groups configs/transformer_classifier.jsonnet
    python -m allennlp_stlr groups configs/transformer_classifier.jsonnet
    allennlp stlr-groups configs/transformer_classifier.jsonnet --no-decay

`--no-decay` writes each layer as two groups under its name, the second holding its biases
and LayerNorm weights with `weight_decay: 0`.
"""
import argparse
import logging
import sys

from allennlp_stlr.tools.config import load_params
from allennlp_stlr.tools.errors import reports_configuration_errors
from allennlp_stlr.tools.failures import NeedsHub, hub_unreachable
from allennlp_stlr.tools.groups.suggest import format_suggestion, suggest_groups


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
