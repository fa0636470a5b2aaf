// The shared base of the fine-tuning benchmarks: all-MiniLM-L6-v2 with a mean-pooling
// head, fine-tuned for sentiment. Each recipe file adds only its learning-rate schedule.
// The head averages the last layer's wordpiece vectors (the pooling the model was
// pretrained with) and adds a linear layer.
//
// The model folder comes from `std.extVar('STLR_MODEL')` (print it with
// `python -m benchmarks.local_model`). Data paths default to the fixture jsonl; the
// harnesses `benchmarks/ablation.py` and `benchmarks/recipes.py` override them, the
// epochs, the peak rate, the seeds and the schedule's settings with `--overrides` (dotted
// keys, e.g. "trainer.optimizer.lr").
local model = std.extVar('STLR_MODEL');
local tokens = 'transformer_model.';

{
  // Eight layer groups, bottom to top: embeddings, each of the 6 transformer layers, the
  // head (the classifier, plus the transformer's pooler, which mean pooling never uses).
  // Every parameter is in one of them, so AllenNLP's default group stays empty, as
  // gradual unfreezing requires.
  layer_groups:: [
    [[tokens + 'embeddings\\.'], {}],
  ] + [
    [[tokens + 'encoder\\.layer\\.' + i + '\\.'], {}]
    for i in std.range(0, 5)
  ] + [
    [['_classification_layer\\.', tokens + 'pooler\\.'], {}],
  ],
  // 8 epochs, as in the earlier ablation: unfreezing one layer group per epoch needs one
  // per group. `benchmarks/recipes.py` overrides it (3 epochs for every recipe).
  num_epochs:: 8,
  batch_size:: 16,
  peak_lr:: 5e-5,
  // Updates of a whole run on the fixture: 160 training sentences in batches of 16 are
  // 10 updates per epoch, 80 in 8 epochs.
  fixture_updates:: $.num_epochs * 160 / $.batch_size,

  dataset_reader: {
    type: 'text_classification_json',
    tokenizer: { type: 'pretrained_transformer', model_name: model, max_length: 64 },
    token_indexers: { tokens: { type: 'pretrained_transformer', model_name: model } },
  },
  train_data_path: 'fixtures/data/train.jsonl',
  validation_data_path: 'fixtures/data/dev.jsonl',
  model: {
    type: 'basic_classifier',
    text_field_embedder: {
      token_embedders: { tokens: { type: 'pretrained_transformer', model_name: model } },
    },
    seq2vec_encoder: { type: 'bag_of_embeddings', embedding_dim: 384, averaged: true },
    dropout: 0.1,
    namespace: 'tags',
  },
  // Batches of similar lengths waste little compute on padding.
  data_loader: { batch_sampler: { type: 'bucket', batch_size: $.batch_size } },
  validation_data_loader: { batch_sampler: { type: 'bucket', batch_size: 64, shuffle: false } },
  trainer: {
    num_epochs: $.num_epochs,
    validation_metric: '+accuracy',
    optimizer: {
      type: 'huggingface_adamw',
      lr: $.peak_lr,
      weight_decay: 0.01,
      parameter_groups: $.layer_groups,
    },
    // Only the best epoch on dev is kept, as the test evaluation uses it.
    checkpointer: { keep_most_recent_by_count: 1 },
    callbacks: [{ type: 'allennlp_stlr.ConfigChecks' }, { type: 'stlr_trace' }],
  },
  random_seed: 13,
  numpy_seed: 13,
  pytorch_seed: 13,
}
