// The benchmark's language model (benchmarks/lstm_lm.py writes its data and vocabulary and
// passes the paths and the run's size as --overrides): an embedding and 3 unidirectional LSTM
// layers, each layer its own module (AllenNLP's `compose` of three `lstm` seq2seq encoders),
// trained to predict the next word with a sampled softmax. Its shape is the classifier's of
// configs/ulmfit_lstm_classifier.jsonnet, which loads these weights.
local embedding_dim = 64;
local hidden_dim = 128;

{
  dataset_reader: {
    type: 'simple_language_modeling',
    // The corpus is already tokenized (letters_digits, lowercased) and cut into chunks.
    tokenizer: { type: 'whitespace' },
    token_indexers: { tokens: { type: 'single_id' } },
  },
  train_data_path: 'lm/train.txt',
  validation_data_path: 'lm/dev.txt',
  test_data_path: 'lm/test.txt',
  evaluate_on_test: true,
  vocabulary: { type: 'from_files', directory: 'lm/vocabulary' },
  model: {
    type: 'language_model',
    bidirectional: false,
    num_samples: 512,
    dropout: 0.1,
    text_field_embedder: {
      token_embedders: { tokens: { type: 'embedding', embedding_dim: embedding_dim } },
    },
    contextualizer: {
      type: 'compose',
      encoders: [
        { type: 'lstm', input_size: embedding_dim, hidden_size: hidden_dim },
        { type: 'lstm', input_size: hidden_dim, hidden_size: hidden_dim },
        // ULMFiT's last layer returns to the embedding size.
        { type: 'lstm', input_size: hidden_dim, hidden_size: embedding_dim },
      ],
    },
  },
  data_loader: { batch_size: 64, shuffle: true },
  trainer: {
    num_epochs: 1,
    validation_metric: '-perplexity',
    grad_norm: 1.0,
    optimizer: { type: 'adam', lr: 0.003 },
    // The slanted triangle alone, as ULMFiT fine-tunes its language model.
    learning_rate_scheduler: { type: 'slanted_triangular' },
    // Saved as it goes: a run cut short continues with --recover.
    checkpointer: { save_every_num_seconds: 300 },
  },
}
