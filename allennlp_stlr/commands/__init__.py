"""
AllenNLP subcommands of allennlp-stlr. `allennlp` finds a plugin's subcommands when the
plugin is listed in `.allennlp_plugins` (or `~/.allennlp/plugins`), which imports this.
"""
from allennlp_stlr.commands.preview import StlrPreview

__all__ = ["StlrPreview"]
