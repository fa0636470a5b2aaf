"""
`allennlp stlr-find-lr CONFIG -s DIR`: the learning-rate range test on an experiment, with
its layer groups' ratios and the layers its schedule trains (`sweep`), a suggested value
(`rules`), a plot and, with `--csv`, every step's rates and loss in DIR (`render`). The last
line printed is the value to paste into `trainer.optimizer.lr`.

    allennlp stlr-find-lr configs/classifier_ulmfit.jsonnet -s runs/find_lr --csv
    python -m allennlp_stlr find-lr configs/classifier_ulmfit.jsonnet -s runs/find_lr
"""
import argparse
import logging
import os
import sys

from allennlp.common.checks import ConfigurationError

from allennlp_stlr.tools.config import load_params
from allennlp_stlr.tools.errors import reports_configuration_errors
from allennlp_stlr.tools.find_lr import render
from allennlp_stlr.tools.find_lr.sweep import (
    ALL,
    CurveTooShort,
    Distributed,
    Settings,
    build_trainer,
    sweep,
)
from allennlp_stlr.tools.preview.command import hint as preview_hint

PLOT = "lr-losses.png"
CSV = "lr-losses.csv"


def hint(args: argparse.Namespace, error: ConfigurationError) -> str:
    if isinstance(error, Distributed):
        return (
            "sweep the single-process experiment with -o '{\"distributed\": null}'; under DDP "
            "each update averages the workers' batches, so the rate suits a batch that many "
            "times larger"
        )
    if isinstance(error, CurveTooShort):
        return "start lower (--start-lr) or raise --stopping-factor"
    return preview_hint(args, error)


def settings_of(args: argparse.Namespace) -> Settings:
    return Settings(
        start_lr=args.start_lr,
        end_lr=args.end_lr,
        num_steps=args.num_steps,
        smoothing=args.smoothing,
        stopping_factor=args.stopping_factor,
        train=args.train,
    )


def find_lr(args: argparse.Namespace) -> None:
    """Run the sweep of `args.config`, write its plot (and CSV) into `args.serialization_dir`,
    print what was swept and, last, `lr: <suggested value>,`."""
    logging.getLogger("allennlp.common.params").setLevel(logging.WARNING)
    settings = settings_of(args)
    settings.check()
    params = load_params(args.config, args.overrides)
    os.makedirs(args.serialization_dir, exist_ok=True)
    trainer = build_trainer(params, args.serialization_dir)
    result = sweep(trainer, settings)
    suggestions = result.suggestions()
    out = sys.stdout
    stopped = (
        f"stopped at step {len(result.losses)}: the smoothed loss passed "
        f"{settings.stopping_factor:g} x its lowest"
        if result.diverged
        else "no divergence"
    )
    out.write(
        f"swept trainer.optimizer.lr from {settings.start_lr:g} to {settings.end_lr:g} over "
        f"{settings.num_steps} steps ({stopped})\n"
    )
    trained = [
        label
        for label, flag, size in zip(result.labels, result.trained, result.sizes)
        if flag and size
    ]
    which = "all layers" if settings.train == ALL else "the first stage's layers"
    out.write(f"trained ({which}): {', '.join(trained)}\n")
    out.write(
        "each group's rate = swept lr x "
        + ", ".join(f"{label} {factor:.4g}" for label, factor in zip(result.labels, result.factors))
        + "\n"
    )
    out.write(
        "suggestions: "
        + ", ".join(f"{name} {value:.2g}" for name, value in suggestions.items())
        + f" (used: {args.rule})\n"
    )
    plot_path = os.path.join(args.serialization_dir, PLOT)
    render.plot(result, plot_path, suggestions, args.rule, title=f"stlr-find-lr: {args.config}")
    out.write(f"wrote {plot_path}\n")
    if args.csv:
        csv_path = os.path.join(args.serialization_dir, CSV)
        render.write_csv(result, csv_path)
        out.write(f"wrote {csv_path}\n")
    out.write(f"lr: {paste_value(suggestions[args.rule])},\n")


def paste_value(rate: float) -> str:
    """The rate to two significant digits, as a config number (`0.0032`, `3.2e-05`)."""
    return repr(float(f"{rate:.2g}"))


run = reports_configuration_errors("stlr-find-lr", hint)(find_lr)
