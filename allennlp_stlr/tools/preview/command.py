"""
`allennlp stlr-preview CONFIG`: the learning rates and trainable layer groups of a
`slanted_triangular` experiment, update by update, before training it (the work is done by
the modules beside this one). It prints a table per layer group, and writes a plot (`--plot`)
and every update's rates (`--csv`) on request.

    allennlp stlr-preview fixtures/experiment.jsonnet --plot lr.png --csv lr.csv
    python -m allennlp_stlr preview fixtures/experiment.jsonnet

`--suggest-groups` is another name for `allennlp stlr-groups CONFIG`.
"""
import argparse
import logging
import sys

from allennlp.common.checks import ConfigurationError

from allennlp_stlr.tools.errors import (
    default_hint,
    reports_configuration_errors,
    usage_error,
)
from allennlp_stlr.tools.preview.advice import (
    checks_callback_warnings,
    config_warnings,
    scheduler_warnings,
)
from allennlp_stlr.tools.config import load_params
from allennlp_stlr.tools.preview.experiment import (
    NeedsLayerGroups,
    read_experiment,
    unmatched_regexes,
)
from allennlp_stlr.tools.preview.render import format_table, plot, write_csv
from allennlp_stlr.tools.preview.serving import fallback_warnings
from allennlp_stlr.tools.preview.simulate import simulate

def hint(args: argparse.Namespace, error: ConfigurationError) -> str:
    if isinstance(error, NeedsLayerGroups):
        return (
            f"`allennlp stlr-groups {args.config}` (or `python -m allennlp_stlr groups "
            f"{args.config}`) prints a parameter_groups block for this model to paste into "
            "trainer.optimizer"
        )
    return default_hint(args, error)


def preview(args: argparse.Namespace) -> None:
    """Print the preview of `args.config`; write the plot and CSV it asks for."""
    # Every constructor argument read from the config is logged at INFO; the table says it all.
    logging.getLogger("allennlp.common.params").setLevel(logging.WARNING)
    if args.suggest_groups:
        clashing = [
            option
            for option, given in (
                ("--plot", args.plot),
                ("--csv", args.csv),
                ("--log-y", args.log_y),
                ("--steps-per-epoch", args.steps_per_epoch is not None),
            )
            if given
        ]
        if clashing:
            usage_error(
                "stlr-preview",
                f"{' and '.join(clashing)} belong to a preview of the learning rates, but "
                "--suggest-groups prints parameter_groups instead of a preview. Run "
                "`stlr-groups` first, paste its block into the config, then preview with "
                f"{' '.join(clashing)}.",
            )
        from allennlp_stlr.tools.groups.command import print_groups

        print_groups(args)
        return
    if args.steps_per_epoch is not None and args.steps_per_epoch <= 0:
        raise ConfigurationError("stlr-preview: --steps-per-epoch must be a positive integer.")
    params = load_params(args.config, args.overrides)
    with scheduler_warnings() as logged:
        experiment = read_experiment(params, steps_per_epoch=args.steps_per_epoch)
        unmatched = unmatched_regexes(experiment)
        try:
            result = simulate(experiment)
        except ConfigurationError as error:
            if unmatched is None:
                raise
            # The scheduler sees tensors, not names: the preview names the regex and the
            # parameters.
            raise ConfigurationError(f"{error}\n{unmatched}") from error
    out = sys.stdout
    # The scheduler's own warnings repeat some of the preview's: each is printed once.
    found = fallback_warnings(
        experiment.scheduler.get("type") or "", getattr(args, "include_package", None) or []
    )
    found += config_warnings(experiment) + ([unmatched] if unmatched else []) + logged
    found += checks_callback_warnings(experiment.config)
    for warning in dict.fromkeys(found):
        out.write(f"WARNING: {warning}\n")
    out.write(f"slanted_triangular preview of {args.config}\n{format_table(result)}\n")
    if args.csv:
        groups = write_csv(result, args.csv)
        out.write(f"wrote {args.csv}\nwrote {groups}\n")
    if args.plot:
        plot(result, args.plot, title=f"slanted_triangular: {args.config}", log_y=args.log_y)
        out.write(f"wrote {args.plot}\n")


run = reports_configuration_errors("stlr-preview", hint)(preview)
