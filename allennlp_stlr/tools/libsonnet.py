"""
`python -m allennlp_stlr libsonnet [--copy-to DIR]`: where the packaged `stlr.libsonnet` is,
or a copy of it next to your configs (Jsonnet resolves `import 'stlr.libsonnet'` relative to
the importing file, or through `-J`/jpathdir).
"""
import argparse
import filecmp
import shutil
import sys
from pathlib import Path

from allennlp.common.checks import ConfigurationError

from allennlp_stlr.tools.errors import reports_configuration_errors

def show_or_copy(args: argparse.Namespace) -> None:
    from allennlp_stlr.resources import libsonnet_path

    source = libsonnet_path()
    if not source.is_file():
        raise ConfigurationError(f"stlr.libsonnet is missing from the installation ({source}).")
    if args.copy_to is None:
        sys.stdout.write(f"{source}\n")
        return
    target_dir = Path(args.copy_to)
    if target_dir.exists() and not target_dir.is_dir():
        raise ConfigurationError(f"--copy-to {args.copy_to}: not a folder.")
    target = target_dir / source.name
    if target.exists() and not args.force and not filecmp.cmp(source, target, shallow=False):
        raise ConfigurationError(
            f"{target} exists and differs from the packaged stlr.libsonnet; pass --force to "
            "replace it."
        )
    target_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    sys.stdout.write(f"{target}\n")


def _hint(args: argparse.Namespace, error: ConfigurationError) -> str:
    return "run `python -m allennlp_stlr libsonnet --help` for the options"


run = reports_configuration_errors("libsonnet", _hint)(show_or_copy)
