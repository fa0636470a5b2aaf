// A text classifier fine-tuned the ULMFiT way (Howard & Ruder, 2018):
// - slanted triangular learning rates (STLR);
// - gradual unfreezing: epoch e trains only the top e + 1 layer groups, each of those
//   epochs running its own triangle; once all are unfrozen, one triangle spans the rest;
// - discriminative fine-tuning: each layer group learns at decay_factor times the rate
//   of the group above it; the top group learns at the optimizer's `lr`.
//
// Train it from the repository root, where `.allennlp_plugins` names allennlp_stlr:
//   allennlp train configs/classifier_ulmfit.jsonnet -s runs/classifier_ulmfit
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
  data_loader: { batch_size: 8, shuffle: true },
  trainer: {
    // At least one epoch per layer group, or the lowest groups would never train
    // (the scheduler refuses such a config).
    num_epochs: 10,
    optimizer: {
      type: 'adam',
      lr: 0.03,
      // The layer groups, bottom layer first. Every parameter must match a group: the
      // parameters of AllenNLP's trailing default group could never be frozen (the
      // scheduler refuses them with gradual unfreezing). The optional `module.` prefix
      // keeps the regexes matching under distributed training. `name` labels a group in
      // the training log, the preview and stlr_trace; a group without one is `group k`.
      parameter_groups: [
        [['^(module\\.)?_text_field_embedder'], { name: 'embedder' }],
        [['^(module\\.)?_seq2vec_encoder'], { name: 'encoder' }],
        [['^(module\\.)?_feedforward'], { name: 'feedforward' }],
        [['^(module\\.)?_classification_layer'], { name: 'head' }],
      ],
    },
    learning_rate_scheduler: {
      type: 'slanted_triangular',
      gradual_unfreezing: true,
      discriminative_fine_tuning: true,
      // ULMFiT's 1/2.6 is made for pretrained lower layers; these are trained from
      // scratch here and need a larger share of the rate.
      decay_factor: 0.6,
    },
    // stlr_checks: the warnings of `stlr-preview` about the trainer's settings (patience,
    // distributed training), logged when training starts. stlr_trace (optional): the
    // learning rates and trainable groups of every update, in stlr_trace.jsonl.
    callbacks: [{ type: 'stlr_checks' }, { type: 'stlr_trace' }],
  },
}
