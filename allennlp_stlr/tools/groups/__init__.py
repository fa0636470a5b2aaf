"""
Finding a model's layers: from its parameter names (`find`, name rules) and from one traced
training batch (`suggest`, the engine of `stlr-groups`); `command` prints the block to paste.
"""
