"""
AllenNLP subcommands of allennlp-stlr: `stlr-preview` and `stlr-groups`. `allennlp` finds a
plugin's subcommands when the plugin is listed in `.allennlp_plugins` (or
`~/.allennlp/plugins`), which imports this; `python -m allennlp_stlr` needs neither.
"""
from allennlp_stlr.commands.groups import StlrGroups
from allennlp_stlr.commands.preview import StlrPreview

__all__ = ["StlrGroups", "StlrPreview"]
