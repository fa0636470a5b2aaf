// Building blocks for ULMFiT-style fine-tuning with allennlp-stlr's slanted triangular scheduler.
// This file ships inside the package: `python -m allennlp_stlr libsonnet` prints where it is
// and `--copy-to DIR` copies it beside your configs: Jsonnet resolves `import
// 'stlr.libsonnet'` relative to the importing file (or give an absolute path).
//
//   local stlr = import 'stlr.libsonnet';
//   optimizer: { type: 'huggingface_adamw', lr: 1e-4,
//                parameter_groups: stlr.transformerGroups(numLayers=6) },
//   learning_rate_scheduler: stlr.transformer(),
//   callbacks: stlr.callbacks(),
//
// Every group is `[[regexes], { name: ..., ...options }]`, bottom layer first, with regexes
// of the form `^(module\.)?path\.` so that they also match under distributed training (DDP
// prefixes every parameter name with `module.`). torch keeps the extra `name` key in the
// optimizer's param group, and the scheduler's log names the group by it.
//
// With `noDecay=true`, `moduleGroups` and `transformerGroups` write each layer as two groups
// under one name: its other parameters, then its biases and LayerNorm weights with
// `weight_decay: 0`. Groups that share a name are one layer for the scheduler: unfrozen
// together, with one discriminative factor, each group keeping its own options.
{
  // A regex for every parameter under module `path` (e.g. '_text_field_embedder').
  moduleRegex(path):: '^(module\\.)?' + std.strReplace(path, '.', '\\.') + '\\.',

  // One parameter group.
  group(regexes, name, options={}):: [regexes, { name: name } + options],

  // The parameters that weight decay leaves alone: names containing `bias`,
  // `LayerNorm.weight` or `layer_norm.weight`, the same parameters as allennlp-models'
  // `[["bias", "LayerNorm\\.weight", "layer_norm\\.weight"], {weight_decay: 0}]` and
  // transformers' `no_decay` lists (so also `bias_ih_l0` of an RNN and `in_proj_bias`).
  noDecayRegex:: '.*(bias|LayerNorm\\.weight|layer_norm\\.weight)',

  // `regex` (starting with `^`) narrowed to the names that `noDecayRegex` does not match
  // (`decayed`) or does (`exempt`). The lookahead reads the whole name from its start, so
  // the two halves share out whatever `regex` matches, with or without DDP's `module.`.
  decayed(regex):: self.narrowed(regex, '^(?!'),
  exempt(regex):: self.narrowed(regex, '^(?='),
  narrowed(regex, lookahead)::
    assert std.startsWith(regex, '^') : 'a regex to split must start with ^: ' + regex;
    lookahead + self.noDecayRegex + ')' + std.substr(regex, 1, std.length(regex) - 1),

  // One layer, the modules `paths`: one group, or with `noDecay` two groups under one name,
  // the second (biases and LayerNorm weights) with `weight_decay: 0`.
  layer(paths, name, options={}, noDecay=false)::
    local regexes = [self.moduleRegex(path) for path in paths];
    if noDecay then [
      self.group([self.decayed(regex) for regex in regexes], name, options),
      self.group([self.exempt(regex) for regex in regexes], name, options + { weight_decay: 0 }),
    ] else [self.group(regexes, name, options)],

  // One layer per module path, bottom to top: stlr.moduleGroups(['_text_field_embedder',
  // '_seq2vec_encoder', '_feedforward', '_classification_layer']).
  moduleGroups(paths, options={}, noDecay=false):: std.flattenArrays([
    self.layer([path], path, options, noDecay)
    for path in paths
  ]),

  // Groups for a model whose `text_field_embedder` has a `pretrained_transformer` under the
  // key `embedder`: the transformer's embeddings, its `numLayers` layers `layersPerGroup` at
  // a time, and a head of the transformer's pooler plus the modules in `head`; with
  // `noDecay`, each of them in two groups as above. `layerPath` and `embeddingsPath` fit
  // BERT-like models (BERT, RoBERTa, MiniLM, ...).
  transformerGroups(
    numLayers,
    embedder='tokens',
    layersPerGroup=1,
    head=['_classification_layer'],
    layerPath='encoder.layer',
    embeddingsPath='embeddings',
    poolerPath='pooler',
    options={},
    noDecay=false,
  )::
    local model = '_text_field_embedder.token_embedder_' + embedder + '.transformer_model.';
    local starts = std.range(0, std.ceil(numLayers / layersPerGroup) - 1);
    local layers(start) = std.range(
      start * layersPerGroup, std.min(numLayers, (start + 1) * layersPerGroup) - 1
    );
    local layerName(ids) =
      if std.length(ids) == 1 then 'layer ' + ids[0]
      else 'layers ' + ids[0] + '-' + ids[std.length(ids) - 1];
    std.flattenArrays(
      [self.layer([model + embeddingsPath], 'embeddings', options, noDecay)] +
      [
        self.layer(
          [model + layerPath + '.' + i for i in layers(start)],
          layerName(layers(start)),
          options,
          noDecay,
        )
        for start in starts
      ] +
      [self.layer([model + poolerPath] + head, 'head', options, noDecay)]
    ),

  // The scheduler block, every setting spelled out, with the scheduler's own defaults (the
  // triangle alone). Leave `numEpochs` and `numStepsPerEpoch` null so that the trainer
  // passes its own values. The type is the dotted path: AllenNLP imports the class itself,
  // so these blocks train with this package's scheduler also from a folder without
  // `.allennlp_plugins` (where plain 'slanted_triangular' is AllenNLP's built-in).
  scheduler(
    cutFrac=0.1,
    ratio=32,
    gradualUnfreezing=false,
    discriminativeFineTuning=false,
    decayFactor=0.38,
    numEpochs=null,
    numStepsPerEpoch=null,
  ):: {
    type: 'allennlp_stlr.SlantedTriangular',
    cut_frac: cutFrac,
    ratio: ratio,
    gradual_unfreezing: gradualUnfreezing,
    discriminative_fine_tuning: discriminativeFineTuning,
    decay_factor: decayFactor,
  } + (if numEpochs == null then {} else { num_epochs: numEpochs })
    + (if numStepsPerEpoch == null then {} else { num_steps_per_epoch: numStepsPerEpoch }),

  // The trainer callbacks: `checks` logs, when training starts, the warnings of
  // `stlr-preview` about settings the scheduler cannot see (`patience`, the distributed
  // section); with `trace=true`, `stlr_trace` also writes every update's rates to
  // stlr_trace.jsonl. Dotted types, like the scheduler blocks, so that they load this package
  // without `.allennlp_plugins`:
  //   callbacks: stlr.callbacks(),
  checks:: { type: 'allennlp_stlr.ConfigChecks' },
  trace:: { type: 'allennlp_stlr.LearningRateTrace' },
  callbacks(trace=false):: [self.checks] + (if trace then [self.trace] else []),

  // Presets, named for what they are for: whole scheduler blocks (add `+ { ... }` to change
  // a setting).
  //
  // ULMFiT's paper values, for an LSTM-style model of a few layers on a strong language model
  // (the paper's AWD-LSTM has 3): gradual unfreezing one layer group per epoch, discriminative
  // rates 1/2.6 per layer. Not borne out here: in the ULMFiT LSTM benchmark
  // (benchmarks/README.md: a 3-layer LSTM LM made from 21,503 IMDb reviews, perplexity 186,
  // 5 seeds) every recipe, this one included, stayed at chance with 100 labelled reviews;
  // with 1,000 this one reached 57.2% against 70.7% for fine-tuning all layers with
  // linear_with_warmup and 72.4% from scratch, because that small LM's features carry little
  // about sentiment. Neither unfreezing by updates nor a searched decay_factor beat it on dev
  // at both sizes, so the paper's values stay; with a small in-domain LM, compare it with
  // fine-tuning all layers.
  ulmfitLstm():: self.scheduler(gradualUnfreezing=true, discriminativeFineTuning=true),
  //
  // For a pretrained transformer: the slanted triangle alone. In the recipes benchmark
  // (benchmarks/README.md: all-MiniLM-L6-v2, Rotten Tomatoes and IMDb, 5 seeds each) it was
  // level with AllenNLP's linear_with_warmup on both (paired +0.0 [-0.3, +0.4] and
  // -0.2 [-0.5, +0.2] points), with no per-model factor to tune.
  transformer():: self.scheduler(gradualUnfreezing=false, discriminativeFineTuning=false),
}
