"""
The model and training data loader of an experiment, built as `allennlp train` builds them.

`build_model` follows `TrainModel.from_partial_objects` step by step, through AllenNLP's own
helpers: seeds from `prepare_environment`, data loaders from `data_loaders_from_params`, the
vocabulary from the instances of the datasets named by `datasets_for_vocab_creation` (all of
them by default), the model from that vocabulary, and the loaders indexed with the model's
vocabulary (a model may extend it while it is built).
"""
import warnings
from typing import Dict, List, Optional, Tuple

from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.util import prepare_environment
from allennlp.data import DataLoader, Vocabulary
from allennlp.models import Model
from allennlp.training.util import data_loaders_from_params

# Vocabulary types that read no instances; `make_vocab_from_params` skips the data for them.
_VOCABULARY_WITHOUT_DATA = {"empty", "from_files", "from_pretrained_transformer"}


def build_model(params: Params) -> Tuple[Model, DataLoader]:
    """
    The model and the training data loader of the experiment `params`, as `allennlp train`
    builds them (same seeds, vocabulary and indexing). `params` is left unchanged.
    """
    params = params.duplicate()
    prepare_environment(params)
    if "train_data_path" not in params:
        raise ConfigurationError(
            "The experiment has no `train_data_path`; set it to the training data file."
        )
    for key in ("validation_data_path", "test_data_path"):
        # `allennlp train` reads a null path as none; AllenNLP's `data_loaders_from_params`
        # would try to open a file called "None".
        if key in params and params[key] is None:
            params.pop(key)
    vocabulary_params = params.pop("vocabulary", Params({}))
    wanted: Optional[List[str]] = params.pop("datasets_for_vocab_creation", None)
    if wanted is None and vocabulary_params.get("type") in _VOCABULARY_WITHOUT_DATA:
        wanted = []
    data_loaders: Dict[str, DataLoader] = data_loaders_from_params(params.duplicate())
    for key in wanted or []:
        if key not in data_loaders:
            raise ConfigurationError(
                f"`datasets_for_vocab_creation` names {key!r}, which is not one of the "
                f"experiment's datasets {sorted(data_loaders)}; use only those."
            )
    instances = (
        instance
        for key, data_loader in data_loaders.items()
        if wanted is None or key in wanted
        for instance in data_loader.iter_instances()
    )
    vocabulary = Vocabulary.from_params(vocabulary_params, instances=instances)
    model = Model.from_params(params=params.pop("model"), vocab=vocabulary, serialization_dir=None)
    for data_loader in data_loaders.values():
        data_loader.index_with(model.vocab)
    return model, data_loaders["train"]


class _AskedVocabulary(Vocabulary):
    """An empty vocabulary that records each namespace a model asks about while it is built."""

    def __init__(self) -> None:
        self.asked: List[str] = []
        super().__init__()

    def get_vocab_size(self, namespace: str = "tokens") -> int:
        self.asked.append(namespace)
        return super().get_vocab_size(namespace)

    def get_token_index(self, token: str, namespace: str = "tokens") -> int:
        self.asked.append(namespace)
        return super().get_token_index(token, namespace)

    def get_token_to_index_vocabulary(self, namespace: str = "tokens") -> Dict[str, int]:
        self.asked.append(namespace)
        return super().get_token_to_index_vocabulary(namespace)

    def get_index_to_token_vocabulary(self, namespace: str = "tokens") -> Dict[int, str]:
        self.asked.append(namespace)
        return super().get_index_to_token_vocabulary(namespace)


def build_model_without_data(params: Params) -> Tuple[Optional[Model], List[str]]:
    """
    The model of the experiment `params` with its sizes as training gives them, built
    without reading any data: on an empty vocabulary, which it must not ask about. A model
    whose sizes come from the vocabulary (an embedding per token, a label count) asks; then
    there is no model, and the namespaces it asked about are returned.
    """
    params = params.duplicate()
    prepare_environment(params)
    vocabulary = _AskedVocabulary()
    with warnings.catch_warnings():
        # A label layer sized by the empty vocabulary: that model is not used.
        warnings.filterwarnings("ignore", "Initializing zero-element tensors")
        model = Model.from_params(
            params=params.pop("model"), vocab=vocabulary, serialization_dir=None
        )
    if vocabulary.asked:
        return None, sorted(set(vocabulary.asked))
    return model, []
