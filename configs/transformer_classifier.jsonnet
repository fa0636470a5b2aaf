// Fine-tune a pretrained transformer classifier with slanted triangular learning rates, the
// preset for transformers (`stlr.transformer()`: the triangle alone, which matched
// linear_with_warmup in our ablation, where ULMFiT's gradual unfreezing and discriminative
// rates lost). The layers name each part of the model in the scheduler's log. Each layer is
// two param groups under one name (`noDecay=true`): its weights with AdamW's weight decay,
// and its biases and LayerNorm weights with `weight_decay: 0`. Swap in `stlr.ulmfitLstm()` to
// unfreeze the layers one per epoch with discriminative rates (5 layers: train at least 5
// epochs).
//
//   STLR_MODEL=$(python -m benchmarks.local_model) \
//     allennlp train configs/transformer_classifier.jsonnet -s runs/transformer
//
// STLR_MODEL is a transformer folder or hub name. The data are the fixture's jsonl files
// (`text_classification_json`: fields "text" and "label"); point elsewhere with
// -o '{"train_data_path": ..., "validation_data_path": ...}'. 'stlr.libsonnet' resolves to
// configs/stlr.libsonnet, which imports the copy inside the package. Outside this
// repository, `python -m allennlp_stlr libsonnet --copy-to DIR` puts one beside your config.
local stlr = import 'stlr.libsonnet';
local model = std.extVar('STLR_MODEL');
local numLayers = 6;  // all-MiniLM-L6-v2
local layersPerGroup = 2;

{
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
    seq2vec_encoder: { type: 'cls_pooler', embedding_dim: 384 },
  },
  data_loader: { batch_size: 16, shuffle: true },
  trainer: {
    num_epochs: 4,
    optimizer: {
      type: 'huggingface_adamw',
      lr: 1e-4,
      weight_decay: 0.01,
      parameter_groups: stlr.transformerGroups(
        numLayers, layersPerGroup=layersPerGroup, noDecay=true
      ),
    },
    learning_rate_scheduler: stlr.transformer(),
    callbacks: stlr.callbacks(trace=true),
  },
  random_seed: 13,
  numpy_seed: 13,
  pytorch_seed: 13,
}
