// A text classifier trained with ULMFiT's slanted triangular learning rates (STLR):
// the rate climbs linearly from lr / ratio to lr over the first cut_frac of all updates
// (at least one), then decays linearly back to lr / ratio at the last update.
//
// Train it from the repository root, where `.allennlp_plugins` names allennlp_stlr:
//   allennlp train configs/classifier_stlr.jsonnet -s runs/classifier_stlr
// Elsewhere, add `--include-package allennlp_stlr`. To train on your own data (jsonl lines
// with "text" and "label"), edit the two paths below or override them with
//   -o '{"train_data_path": "...", "validation_data_path": "..."}'
local train_data = 'fixtures/data/train.jsonl';
local validation_data = 'fixtures/data/dev.jsonl';

{
  dataset_reader: {
    type: 'text_classification_json',
    tokenizer: { type: 'whitespace' },
  },
  train_data_path: train_data,
  validation_data_path: validation_data,
  model: {
    type: 'basic_classifier',
    text_field_embedder: {
      token_embedders: { tokens: { type: 'embedding', embedding_dim: 16 } },
    },
    seq2vec_encoder: { type: 'cnn', embedding_dim: 16, num_filters: 8, ngram_filter_sizes: [1, 2] },
    feedforward: { input_dim: 16, num_layers: 1, hidden_dims: 16, activations: 'relu' },
  },
  data_loader: { batch_size: 16, shuffle: true },
  trainer: {
    num_epochs: 6,
    // `lr` is the peak learning rate of the schedule.
    optimizer: { type: 'adam', lr: 0.01 },
    learning_rate_scheduler: {
      type: 'slanted_triangular',
      // The ULMFiT defaults, spelled out. `num_epochs` and `num_steps_per_epoch` come
      // from the trainer and the data loader.
      cut_frac: 0.1,
      ratio: 32,
    },
    // stlr_checks: the warnings of `stlr-preview` about the trainer's settings (patience,
    // distributed training), logged when training starts. stlr_trace (optional): the
    // learning rates and trainable groups of every update, in stlr_trace.jsonl.
    callbacks: [{ type: 'stlr_checks' }, { type: 'stlr_trace' }],
  },
}
