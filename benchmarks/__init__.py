"""Benchmarks of allennlp-stlr: scheduler overhead and a ULMFiT-style fine-tuning ablation."""
