// configs/classifier_ulmfit.jsonnet under AllenNLP's distributed training: two CPU
// workers over gloo as shipped; list GPU ids instead of -1 to use GPUs.
//   allennlp train configs/classifier_ulmfit_distributed.jsonnet -s runs/ulmfit_ddp
//
// AllenNLP wraps the model in DistributedDataParallel before the scheduler freezes
// anything, so DDP waits for a gradient of every parameter; gradual unfreezing needs
// `find_unused_parameters: true` (without it, allennlp_stlr stops at the first forward
// pass, before any update, with a ConfigurationError naming this setting). The workers agree on the epoch length, and
// the `^(module\\.)?` regexes of the base config match DDP's `module.` prefix.
(import 'classifier_ulmfit.jsonnet') + {
  distributed: {
    cuda_devices: [-1, -1],
    ddp_accelerator: { type: 'torch', find_unused_parameters: true },
  },
}
