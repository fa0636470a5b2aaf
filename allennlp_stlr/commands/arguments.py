"""The command-line arguments the commands share."""
import argparse


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
