"""
The learning-rate range test of `stlr-find-lr`: the sweep over an experiment built as
`allennlp train` builds it, with its groups' ratios and the layers its schedule trains
(`sweep`), the rules that suggest a rate from the curve, pure functions (`rules`), the plot
and CSV (`render`); `command` is `stlr-find-lr` itself.
"""
