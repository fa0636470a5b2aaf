// Baseline: linear warm-up over the first 10% of updates, then linear decay to zero.
local base = import 'base.libsonnet';
base {
  trainer+: {
    learning_rate_scheduler: {
      type: 'linear_with_warmup',
      warmup_steps: std.floor(0.1 * base.fixture_updates),
    },
  },
}
