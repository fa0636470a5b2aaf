"""
How the commands report a configuration mistake: the `ConfigurationError`'s message and a
one-line hint on stderr, exit status 1, no traceback unless `--traceback` asks for it.
"""
import argparse
import functools
import sys
from typing import Callable, NoReturn

from allennlp.common.checks import ConfigurationError

from allennlp_stlr.tools.failures import NeedsHub, UnreadableConfig

EXIT_CONFIGURATION = 1
EXIT_USAGE = 2

Hint = Callable[[argparse.Namespace, ConfigurationError], str]


def default_hint(args: argparse.Namespace, error: ConfigurationError) -> str:
    if isinstance(error, (NeedsHub, UnreadableConfig)):
        return error.hint
    config = getattr(args, "config", "the config")
    return (
        f"fix that setting in {config} (or with -o/--overrides) and run again; "
        "--traceback shows where the error was raised"
    )


def reports_configuration_errors(
    command: str, hint: Hint = default_hint
) -> Callable[[Callable[[argparse.Namespace], None]], Callable[[argparse.Namespace], None]]:
    """Wrap a command's `run(args)` so configuration errors read as messages, not crashes."""

    def wrap(run: Callable[[argparse.Namespace], None]) -> Callable[[argparse.Namespace], None]:
        @functools.wraps(run)
        def guarded(args: argparse.Namespace) -> None:
            try:
                run(args)
            except ConfigurationError as error:
                if getattr(args, "traceback", False):
                    raise
                sys.stderr.write(f"{command}: error: {error}\nhint: {hint(args, error)}\n")
                sys.exit(EXIT_CONFIGURATION)

        return guarded

    return wrap


def usage_error(command: str, message: str) -> NoReturn:
    """Options that do not go together: say why, exit as argparse does."""
    sys.stderr.write(f"{command}: error: {message}\n")
    sys.exit(EXIT_USAGE)
