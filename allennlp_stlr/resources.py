"""Files shipped inside the package, found wherever it is installed."""
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def libsonnet_path() -> Path:
    """
    `stlr.libsonnet`, the Jsonnet helpers for `parameter_groups` and the scheduler block.

    Jsonnet resolves `import 'stlr.libsonnet'` next to the importing config, so copy this file
    beside your config, or import it by this absolute path.
    """
    return _PACKAGE / "stlr.libsonnet"
