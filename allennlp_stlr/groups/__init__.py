"""
Param groups as layers: which of the optimizer's param groups form a layer and how each is
labelled (`layers`), the names of groups and parameters as AllenNLP builds them (`names`),
finding a model's layers from its parameter names (`find`) and from one traced training batch
(`suggest`, the engine of `stlr-groups`).
"""
