// STLR + discriminative fine-tuning + gradual unfreezing by updates: the next layer group
// (from the head down) is unfrozen every `unfreeze_every_num_updates` optimizer updates
// instead of every epoch, so a transformer's 8 groups can all train within a short run.
// Each stage of that many updates is its own triangle; one triangle spans the rest.
// The harness sets the value to max(1, updates per epoch // 8), so that all groups train
// before the first epoch ends; on the fixture (10 updates per epoch) that is 1.
(import 'base.libsonnet') {
  trainer+: {
    learning_rate_scheduler: {
      type: 'slanted_triangular',
      cut_frac: 0.1,
      ratio: 32,
      discriminative_fine_tuning: true,
      decay_factor: 0.38,
      gradual_unfreezing: true,
      unfreeze_every_num_updates: 1,
    },
  },
}
