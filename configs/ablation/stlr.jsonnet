// Slanted triangular learning rates (Howard & Ruder 2018, eq. 3) with the paper's
// cut_frac = 0.1 and ratio = 32.
(import 'base.libsonnet') {
  trainer+: {
    learning_rate_scheduler: { type: 'slanted_triangular', cut_frac: 0.1, ratio: 32 },
  },
}
