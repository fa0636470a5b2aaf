// ULMFiT: STLR + discriminative fine-tuning + gradual unfreezing, one more layer group
// (from the head down) per epoch; all 8 groups train in the 8th epoch (epoch 7, counting
// from 0) and after.
(import 'base.libsonnet') {
  trainer+: {
    learning_rate_scheduler: {
      type: 'slanted_triangular',
      cut_frac: 0.1,
      ratio: 32,
      discriminative_fine_tuning: true,
      decay_factor: 0.38,
      gradual_unfreezing: true,
    },
  },
}
