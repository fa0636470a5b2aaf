"""
ULMFiT's classifier head input: concat pooling of a sequence encoder's states, the state
at the last token beside their max and their mean over the tokens.
"""
import torch
from allennlp.modules.seq2vec_encoders import Seq2VecEncoder
from allennlp.nn import util


@Seq2VecEncoder.register("concat_pooling")
class ConcatPooling(Seq2VecEncoder):
    """
    `[h_T; max_t h_t; mean_t h_t]` over the unmasked tokens of each sequence (Howard &
    Ruder, 2018, section 3.3), for a unidirectional encoder whose last state sums up the
    text: the output is three times as wide as the input. Padding takes no part in any of
    the three.

    Registered as a `Seq2VecEncoder` with name "concat_pooling".

    # Parameters

    embedding_dim : `int`
        The size of each input state (the output of the seq2seq encoder below).
    batch_norm : `bool`, optional (default = `False`)
        Normalise each pooled feature over the batch (`torch.nn.BatchNorm1d`), as ULMFiT's
        head does before its first linear layer. A pretrained LSTM's pooled states can
        differ little from one text to the next (a mean over a hundred tokens), too little
        for the layer above to tell them apart at a usable learning rate.
    """

    def __init__(self, embedding_dim: int, batch_norm: bool = False) -> None:
        super().__init__()
        self._embedding_dim = embedding_dim
        self._batch_norm = torch.nn.BatchNorm1d(3 * embedding_dim) if batch_norm else None

    def get_input_dim(self) -> int:
        return self._embedding_dim

    def get_output_dim(self) -> int:
        return 3 * self._embedding_dim

    def forward(self, tokens: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:
        last = util.get_final_encoder_states(tokens, mask, bidirectional=False)
        expanded = mask.unsqueeze(-1)
        largest = util.masked_max(tokens, expanded, dim=1)
        mean = util.masked_mean(tokens, expanded, dim=1)
        pooled = torch.cat([last, largest, mean], dim=-1)
        return pooled if self._batch_norm is None else self._batch_norm(pooled)
