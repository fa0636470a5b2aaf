"""An experiment config read as `allennlp train` reads it, for every command."""
from allennlp.common import Params

from allennlp_stlr.tools.failures import UnreadableConfig


def load_params(config: str, overrides: str = "") -> Params:
    """The experiment as `allennlp train` reads it: Jsonnet, env vars as ext vars, overrides."""
    try:
        return Params.from_file(config, overrides)
    except (RuntimeError, FileNotFoundError) as error:
        # A missing file, or Jsonnet's own errors (an unset environment variable, a syntax error).
        raise UnreadableConfig(config, error) from error
