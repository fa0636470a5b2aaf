// Building blocks for ULMFiT-style fine-tuning with allennlp-stlr's `slanted_triangular`.
// This file ships inside the package: `python -m allennlp_stlr libsonnet` prints where it is
// and `--copy-to DIR` copies it beside your configs: Jsonnet resolves `import
// 'stlr.libsonnet'` relative to the importing file (or give an absolute path).
//
//   local stlr = import 'stlr.libsonnet';
//   optimizer: { type: 'huggingface_adamw', lr: 1e-4,
//                parameter_groups: stlr.transformerGroups(numLayers=6) },
//   learning_rate_scheduler: stlr.transformer(),
//
// Every group is `[[regexes], { name: ..., ...options }]`, bottom layer first, with regexes
// of the form `^(module\.)?path\.` so that they also match under distributed training (DDP
// prefixes every parameter name with `module.`). torch keeps the extra `name` key in the
// optimizer's param group, and the scheduler's log names the group by it.
{
  // A regex for every parameter under module `path` (e.g. '_text_field_embedder').
  moduleRegex(path):: '^(module\\.)?' + std.strReplace(path, '.', '\\.') + '\\.',

  // One parameter group.
  group(regexes, name, options={}):: [regexes, { name: name } + options],

  // One group per module path, bottom to top: stlr.moduleGroups(['_text_field_embedder',
  // '_seq2vec_encoder', '_feedforward', '_classification_layer']).
  moduleGroups(paths, options={}):: [
    self.group([self.moduleRegex(path)], path, options)
    for path in paths
  ],

  // Groups for a model whose `text_field_embedder` has a `pretrained_transformer` under the
  // key `embedder`: the transformer's embeddings, its `numLayers` layers `layersPerGroup` at
  // a time, and a head of the transformer's pooler plus the modules in `head`.
  // `layerPath` and `embeddingsPath` fit BERT-like models (BERT, RoBERTa, MiniLM, ...).
  transformerGroups(
    numLayers,
    embedder='tokens',
    layersPerGroup=1,
    head=['_classification_layer'],
    layerPath='encoder.layer',
    embeddingsPath='embeddings',
    poolerPath='pooler',
    options={},
  )::
    local model = '_text_field_embedder.token_embedder_' + embedder + '.transformer_model.';
    local starts = std.range(0, std.ceil(numLayers / layersPerGroup) - 1);
    local layers(start) = std.range(
      start * layersPerGroup, std.min(numLayers, (start + 1) * layersPerGroup) - 1
    );
    local layerName(ids) =
      if std.length(ids) == 1 then 'layer ' + ids[0]
      else 'layers ' + ids[0] + '-' + ids[std.length(ids) - 1];
    [self.group([self.moduleRegex(model + embeddingsPath)], 'embeddings', options)] +
    [
      self.group(
        [self.moduleRegex(model + layerPath + '.' + i) for i in layers(start)],
        layerName(layers(start)),
        options,
      )
      for start in starts
    ] +
    [
      self.group(
        [self.moduleRegex(model + poolerPath)] + [self.moduleRegex(path) for path in head],
        'head',
        options,
      ),
    ],

  // The scheduler block, every setting spelled out, with the scheduler's own defaults (the
  // triangle alone). Leave `numEpochs` and `numStepsPerEpoch` null so that the trainer
  // passes its own values.
  scheduler(
    cutFrac=0.1,
    ratio=32,
    gradualUnfreezing=false,
    discriminativeFineTuning=false,
    decayFactor=0.38,
    numEpochs=null,
    numStepsPerEpoch=null,
  ):: {
    type: 'slanted_triangular',
    cut_frac: cutFrac,
    ratio: ratio,
    gradual_unfreezing: gradualUnfreezing,
    discriminative_fine_tuning: discriminativeFineTuning,
    decay_factor: decayFactor,
  } + (if numEpochs == null then {} else { num_epochs: numEpochs })
    + (if numStepsPerEpoch == null then {} else { num_steps_per_epoch: numStepsPerEpoch }),

  // Presets, named for what they are for: whole scheduler blocks (add `+ { ... }` to change
  // a setting).
  //
  // ULMFiT's paper values, for an LSTM-style model of a few layers (the paper's AWD-LSTM has
  // 3): gradual unfreezing one layer group per epoch, discriminative rates 1/2.6 per layer.
  // Not borne out here, for want of a good LM: in the ULMFiT LSTM benchmark
  // (benchmarks/README.md: a small LSTM LM made from IMDb, perplexity 663) every recipe,
  // this one included, stayed at chance with 100 labelled reviews (10 seeds); with 1,000
  // (one seed) it trailed full fine-tuning, as did every recipe that keeps that LM's
  // weak layers near their start. The paper's values stay until a stronger LM tells the
  // recipes apart.
  ulmfitLstm():: self.scheduler(gradualUnfreezing=true, discriminativeFineTuning=true),
  //
  // For a pretrained transformer: the slanted triangle alone. In the recipes benchmark
  // (benchmarks/README.md: all-MiniLM-L6-v2, Rotten Tomatoes and IMDb, 5 seeds each) it was
  // level with AllenNLP's linear_with_warmup on both (paired +0.0 [-0.3, +0.4] and
  // -0.2 [-0.5, +0.2] points), with no per-model factor to tune.
  transformer():: self.scheduler(gradualUnfreezing=false, discriminativeFineTuning=false),
}
