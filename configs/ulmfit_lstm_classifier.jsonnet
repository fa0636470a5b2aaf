// ULMFiT's classifier (Howard & Ruder, 2018) on a pretrained LSTM language model: the LM's
// embedding and its 3 LSTM layers, each its own module and so its own layer group, under
// ULMFiT's head (concat pooling of the last state, the max and the mean, batch-normalised,
// then a small feedforward layer), fine-tuned with slanted triangular rates, gradual unfreezing and
// discriminative rates.
//
// ULMFIT_LM is the serialization directory of the language model, as `allennlp train` of
// benchmarks/configs/ulmfit_lstm_lm.jsonnet leaves it (its `vocabulary/` and
// `model.tar.gz`); `python -m benchmarks.ulmfit_lstm --lm-only` makes one in
// benchmarks/results/ulmfit_lstm/lm/model. From the repository root, where
// `.allennlp_plugins` names allennlp_stlr:
//   ULMFIT_LM=benchmarks/results/ulmfit_lstm/lm/model \
//     allennlp train configs/ulmfit_lstm_classifier.jsonnet -s runs/ulmfit_lstm
// Another LM fits if its parameter names and sizes are those below. To train on your own
// data (jsonl lines with "text" and "label"), change the two paths or override them with
//   -o '{"train_data_path": "...", "validation_data_path": "..."}'
local stlr = import 'stlr.libsonnet';

local lm = std.extVar('ULMFIT_LM');
local train_data = 'fixtures/data/train.jsonl';
local validation_data = 'fixtures/data/dev.jsonl';

// The LM's sizes: embedding, then the output of each LSTM layer.
local embedding_dim = 64;
local layer_dims = [128, 128, embedding_dim];
local layer_inputs = [embedding_dim] + layer_dims[:2];
local lstm_parameters = ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0'];
local layers = std.range(0, std.length(layer_dims) - 1);

{
  dataset_reader: {
    type: 'text_classification_json',
    // The LM's tokens: letters_digits, lowercased.
    tokenizer: { type: 'letters_digits' },
    token_indexers: { tokens: { type: 'single_id', lowercase_tokens: true } },
    // The first 100 tokens of each text.
    max_sequence_length: 100,
  },
  train_data_path: train_data,
  validation_data_path: validation_data,
  // The LM's words and no others, so that the embedding's rows stay the LM's: a min_count
  // no word reaches adds none of the data's words. The labels come from the data.
  vocabulary: { type: 'extend', directory: lm + '/vocabulary', min_count: { tokens: 1e12 } },
  model: {
    type: 'basic_classifier',
    text_field_embedder: {
      token_embedders: { tokens: { type: 'embedding', embedding_dim: embedding_dim } },
    },
    // `compose` keeps each LSTM layer a module of its own: encoder0, encoder1, encoder2.
    seq2seq_encoder: {
      type: 'compose',
      encoders: [
        { type: 'lstm', input_size: layer_inputs[i], hidden_size: layer_dims[i] }
        for i in layers
      ],
    },
    seq2vec_encoder: { type: 'concat_pooling', embedding_dim: embedding_dim, batch_norm: true },
    feedforward: {
      input_dim: 3 * embedding_dim,
      num_layers: 1,
      hidden_dims: 50,
      activations: 'relu',
      dropout: 0.1,
    },
    // The embedding and the LSTM layers start as the LM's; the head starts at random.
    initializer: {
      regexes: [
        [
          '^_text_field_embedder\\.|^_seq2seq_encoder\\.',
          {
            type: 'pretrained',
            weights_file_path: lm + '/model.tar.gz',
            parameter_name_overrides: {
              ['_seq2seq_encoder.encoder%d._module.%s' % [i, p]]:
                '_contextualizer.encoder%d._module.%s' % [i, p]
              for i in layers
              for p in lstm_parameters
            },
          },
        ],
      ],
    },
  },
  data_loader: { batch_sampler: { type: 'bucket', batch_size: 32 } },
  validation_data_loader: { batch_sampler: { type: 'bucket', batch_size: 64 } },
  trainer: {
    // At least one epoch per layer group (5), and one more with all of them training.
    num_epochs: 6,
    validation_metric: '+accuracy',
    optimizer: {
      type: 'adam',
      lr: 0.003,
      // ULMFiT's Adam.
      betas: [0.7, 0.99],
      // Bottom to top: the embedding, each LSTM layer, the head.
      parameter_groups: [
        stlr.group([stlr.moduleRegex('_text_field_embedder')], 'embedding'),
      ] + [
        stlr.group([stlr.moduleRegex('_seq2seq_encoder.encoder%d' % i)], 'lstm %d' % i)
        for i in layers
      ] + [
        stlr.group(
          [
            stlr.moduleRegex('_seq2vec_encoder'),
            stlr.moduleRegex('_feedforward'),
            stlr.moduleRegex('_classification_layer'),
          ],
          'head'
        ),
      ],
    },
    learning_rate_scheduler: stlr.ulmfitLstm(),
    callbacks: stlr.callbacks(trace=true),
  },
}
