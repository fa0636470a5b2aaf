"""
`python -m allennlp_stlr COMMAND`: this package's commands without a `.allennlp_plugins` file.

    python -m allennlp_stlr preview CONFIG [--plot lr.png] [--csv lr.csv] ...
    python -m allennlp_stlr groups CONFIG
    python -m allennlp_stlr find-lr CONFIG -s DIR [--csv] ...
    python -m allennlp_stlr libsonnet [--copy-to DIR]

`preview`, `groups` and `find-lr` take the options of `allennlp stlr-preview`, `allennlp
stlr-groups` and `allennlp stlr-find-lr`, and print the same. `--include-package` imports modules that register your
own models or readers, as it does for `allennlp train`.
"""
import argparse
import logging
import sys
from typing import List, Optional

from allennlp.common.plugins import import_plugins
from allennlp.common.util import import_module_and_submodules

from allennlp_stlr import cli


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m allennlp_stlr",
        description="Commands of allennlp-stlr (slanted triangular learning rates).",
    )
    commands = root.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    commands.required = True
    for name in ("preview", "groups", "find-lr"):
        cli.add_command(commands, name, name).add_argument(
            "--include-package",
            action="append",
            default=[],
            help="additional packages to include (models, readers, ...)",
        )
    cli.add_command(commands, "libsonnet", "libsonnet")
    return root


def main(argv: Optional[List[str]] = None) -> None:
    args = parser().parse_args(argv)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    import_plugins()
    for package in getattr(args, "include_package", []):
        import_module_and_submodules(package)
    args.func(args)


if __name__ == "__main__":
    main(sys.argv[1:])
