// STLR + discriminative fine-tuning: each layer group's rate is 1/2.6 of the one above.
(import 'base.libsonnet') {
  trainer+: {
    learning_rate_scheduler: {
      type: 'slanted_triangular',
      cut_frac: 0.1,
      ratio: 32,
      discriminative_fine_tuning: true,
      decay_factor: 0.38,
    },
  },
}
