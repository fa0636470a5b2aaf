"""
`concat_pooling`, ULMFiT's head input, built from `Params` as a config builds it: the last
unmasked state, the max and the mean over the unmasked states, side by side, optionally
batch-normalised.
"""
import pytest
import torch
from allennlp.common import Params
from allennlp.modules.seq2vec_encoders import Seq2VecEncoder

import allennlp_stlr  # noqa: F401  (registers "concat_pooling")
from allennlp_stlr.concat_pooling import ConcatPooling


def _encoder(dim: int) -> Seq2VecEncoder:
    return Seq2VecEncoder.from_params(Params({"type": "concat_pooling", "embedding_dim": dim}))


def test_it_is_registered_and_three_times_as_wide() -> None:
    encoder = _encoder(4)
    assert type(encoder) is ConcatPooling
    assert (encoder.get_input_dim(), encoder.get_output_dim()) == (4, 12)


@pytest.mark.parametrize(
    "states, mask, expected",
    [
        # No padding: the last state, the max and the mean of all three.
        ([[1.0, -2.0], [3.0, 0.0], [-1.0, 5.0]], [True, True, True],
         [-1.0, 5.0, 3.0, 5.0, 1.0, 1.0]),
        # The padded third state (huge values) takes no part in any of the three.
        ([[1.0, -2.0], [3.0, 0.0], [100.0, 100.0]], [True, True, False],
         [3.0, 0.0, 3.0, 0.0, 2.0, -1.0]),
        # A single token: all three are that state.
        ([[-4.0, 2.0], [100.0, 100.0], [100.0, 100.0]], [True, False, False],
         [-4.0, 2.0, -4.0, 2.0, -4.0, 2.0]),
    ],
)  # fmt: skip
def test_last_max_and_mean_over_the_unmasked_states(
    states: list, mask: list, expected: list
) -> None:
    pooled = _encoder(2)(torch.tensor([states]), torch.tensor([mask]))
    assert pooled.tolist() == [expected]


def test_each_sequence_of_a_batch_is_pooled_over_its_own_length() -> None:
    states = torch.tensor([[[1.0], [2.0], [9.0]], [[4.0], [-1.0], [0.0]]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    assert _encoder(1)(states, mask).tolist() == [[2.0, 2.0, 1.5], [0.0, 4.0, 1.0]]


def test_with_batch_norm_each_pooled_feature_is_normalised_over_the_batch() -> None:
    encoder = Seq2VecEncoder.from_params(
        Params({"type": "concat_pooling", "embedding_dim": 2, "batch_norm": True})
    )
    # Four texts whose pooled features differ by a twentieth only.
    states = torch.tensor([[[0.50 + 0.05 * i, -0.3]] * 3 for i in range(4)])
    mask = torch.ones(4, 3, dtype=torch.bool)
    encoder.train()
    pooled = encoder(states, mask)
    # Feature 0 of each third spreads to unit variance; the constant feature 1 becomes 0.
    spread = pooled[:, [0, 2, 4]]
    assert torch.allclose(spread.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(spread.var(0, unbiased=False), torch.ones(3), atol=1e-2)
    assert torch.allclose(pooled[:, [1, 3, 5]], torch.zeros(4, 3), atol=1e-5)
    assert sum(p.numel() for p in encoder.parameters()) == 2 * 6
