"""
allennlp-stlr: ULMFiT's slanted triangular learning rates for AllenNLP.

Importing this package registers `SlantedTriangular` as the `LearningRateScheduler`
named "slanted_triangular", replacing AllenNLP's built-in class of that name, the
"stlr_trace" trainer callback and the `allennlp stlr-preview` command, and names each
optimizer param group by its regexes (`allennlp_stlr.group_labels`).
"""
import logging

from allennlp.training.learning_rate_schedulers import LearningRateScheduler

from allennlp_stlr.scheduler import SlantedTriangular
from allennlp_stlr.callbacks import LearningRateTrace
from allennlp_stlr import commands  # registers `allennlp stlr-preview`
from allennlp_stlr import group_labels

__version__ = "0.1.0"
__all__ = ["LearningRateTrace", "SlantedTriangular", "__version__"]

logger = logging.getLogger(__name__)

group_labels.install()
LearningRateScheduler.register("slanted_triangular", exist_ok=True)(SlantedTriangular)
logger.info(
    'LearningRateScheduler "slanted_triangular" is now served by %s.%s',
    SlantedTriangular.__module__,
    SlantedTriangular.__qualname__,
)
