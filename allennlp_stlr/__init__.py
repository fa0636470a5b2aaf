"""
allennlp-stlr: ULMFiT's slanted triangular learning rates for AllenNLP.

Importing this package registers `SlantedTriangular` as the `LearningRateScheduler`
named "slanted_triangular", replacing AllenNLP's built-in class of that name, the
"stlr_trace" trainer callback, ULMFiT's "concat_pooling" `Seq2VecEncoder` and the
`allennlp stlr-preview` command, and names each optimizer param group by its regexes and
each parameter by its name in the model (`allennlp_stlr.groups.names`).
"""
import logging

# First, before any module of this package binds `make_parameter_groups` by name.
from allennlp_stlr.groups import names as group_names

group_names.install()

from allennlp.common.registrable import Registrable  # noqa: E402
from allennlp.training.learning_rate_schedulers import LearningRateScheduler  # noqa: E402

from allennlp_stlr.scheduler import SlantedTriangular  # noqa: E402
from allennlp_stlr.callbacks import LearningRateTrace  # noqa: E402
from allennlp_stlr import commands  # noqa: E402,F401  (registers `allennlp stlr-preview`)
from allennlp_stlr import concat_pooling  # noqa: E402,F401  (registers "concat_pooling")

__version__ = "0.1.0"
__all__ = ["LearningRateTrace", "SlantedTriangular", "__version__"]

logger = logging.getLogger(__name__)

# Replacing the built-in under its name is the point of this package: take the built-in's
# entry out first, so that `register` does not log the replacement as an overwrite.
Registrable._registry[LearningRateScheduler].pop("slanted_triangular", None)
LearningRateScheduler.register("slanted_triangular")(SlantedTriangular)
logger.info(
    'LearningRateScheduler "slanted_triangular" is now served by %s.%s',
    SlantedTriangular.__module__,
    SlantedTriangular.__qualname__,
)
