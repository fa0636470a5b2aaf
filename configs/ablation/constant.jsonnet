// Baseline: a constant learning rate, the best epoch chosen on dev.
(import 'base.libsonnet')
