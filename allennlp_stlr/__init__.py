"""
allennlp-stlr: ULMFiT's slanted triangular learning rates for AllenNLP.

Importing this package registers its names with AllenNLP's public `register` and changes
nothing else:

- the `LearningRateScheduler` "slanted_triangular" (`SlantedTriangular`), in place of
  AllenNLP's built-in class of that name;
- the trainer callbacks "stlr_checks" (`ConfigChecks`: the preview's warnings about the
  trainer's settings, when training starts) and "stlr_trace" (`LearningRateTrace`);
- the `Seq2VecEncoder` "concat_pooling" (ULMFiT's classifier pooling);
- the commands `allennlp stlr-preview` and `allennlp stlr-groups` (`allennlp_stlr.cli`:
  their names and arguments only; their work, `allennlp_stlr.tools`, loads when they run).
"""
import logging

from allennlp.training.learning_rate_schedulers import LearningRateScheduler

from allennlp_stlr import cli  # noqa: F401  (registers `allennlp stlr-preview`, `stlr-groups`)
from allennlp_stlr import concat_pooling  # noqa: F401  (registers "concat_pooling")
from allennlp_stlr.callbacks import ConfigChecks, LearningRateTrace
from allennlp_stlr.scheduler import SlantedTriangular

__version__ = "0.1.0"
__all__ = ["ConfigChecks", "LearningRateTrace", "SlantedTriangular", "__version__"]

logger = logging.getLogger(__name__)


class _HideOverwriteNotice(logging.Filter):
    """AllenNLP's notice for `exist_ok=True` names the base class, not the class that now
    serves the name; the line logged below says it right."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "exist_ok=True, so overwriting" not in record.getMessage()


_registrable_log = logging.getLogger("allennlp.common.registrable")
_hide = _HideOverwriteNotice()
_registrable_log.addFilter(_hide)
try:
    LearningRateScheduler.register("slanted_triangular", exist_ok=True)(SlantedTriangular)
finally:
    _registrable_log.removeFilter(_hide)
logger.info(
    'LearningRateScheduler "slanted_triangular" is now served by %s.%s',
    SlantedTriangular.__module__,
    SlantedTriangular.__qualname__,
)
