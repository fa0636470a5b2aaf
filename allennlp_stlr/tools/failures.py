"""
Why an experiment cannot be read, each as a `ConfigurationError` the commands turn into a
message and a hint that fits: the config file is missing or its Jsonnet does not evaluate
(`UnreadableConfig`), a data file is missing (`building`), or a pretrained transformer is neither on this machine nor reachable
on the Hugging Face hub (`NeedsHub`).
"""
import os
import re
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List

from allennlp.common.checks import ConfigurationError


class UnreadableConfig(ConfigurationError):
    """The config file is missing, or its Jsonnet does not evaluate; `hint` says which."""

    hint: str

    def __init__(self, config: str, error: Exception) -> None:
        detail = str(error).strip()
        super().__init__(f"cannot read {config}: {detail}")
        if isinstance(error, FileNotFoundError) or not os.path.isfile(config):
            relative = (
                "" if os.path.isabs(config) else f" in {os.getcwd()}, the folder the command "
                "runs in"
            )
            self.hint = f"there is no file {config}{relative}: check the path"
            return
        # Jsonnet's errors name the place as FILE:LINE:COLUMN (or FILE:(LINE:COLUMN)-(...)).
        where = re.search(r"[^\s:]+:\(?(\d+):(\d+)", detail)
        place = f" at line {where.group(1)}, column {where.group(2)}" if where else ""
        undefined = re.search(r"undefined external variable: (\S+)", detail)
        if undefined:
            self.hint = (
                f"the Jsonnet of {config} reads std.extVar('{undefined.group(1)}'): set the "
                f"environment variable {undefined.group(1)} and run again"
            )
        else:
            self.hint = (
                f"the Jsonnet of {config} does not evaluate{place}: fix it there "
                "(the error above is Jsonnet's own)"
            )


class NeedsHub(ConfigurationError):
    """A transformer (or its tokenizer) that only the unreachable Hugging Face hub has."""

    hint: str

    def __init__(self, config: Dict[str, Any], needs_model: bool, error: Exception) -> None:
        names = sorted(set(_model_names(config)))
        named = f" ({', '.join(names)})" if names else ""
        text = str(error).strip()
        first_line = text.splitlines()[0] if text else type(error).__name__
        super().__init__(
            f"the config's pretrained transformer{named} is not on this machine and the "
            f"Hugging Face hub cannot be reached: {first_line}"
        )
        if needs_model:
            self.hint = (
                "the model itself is needed here (its layer groups and their parameters): set "
                "`model_name` to a local folder with the model (in this package's repository, "
                "`python -m benchmarks.local_model` makes one for all-MiniLM-L6-v2), or run once "
                "where "
                "the hub is reachable, which caches it"
            )
        else:
            self.hint = (
                "--steps-per-epoch N (the optimizer updates per epoch) previews the schedule "
                "without the model or the data; or set `model_name` to a local folder with the "
                "model"
            )


def _model_names(value: Any) -> List[str]:
    if isinstance(value, dict):
        found = [value["model_name"]] if isinstance(value.get("model_name"), str) else []
        return found + [name for item in value.values() for name in _model_names(item)]
    if isinstance(value, list):
        return [name for item in value for name in _model_names(item)]
    return []


def hub_unreachable(error: BaseException) -> bool:
    """Whether transformers failed for want of the hub (offline, no connection, no such name)."""
    text = str(error)
    return any(
        sign in text
        for sign in (
            "Connection error",  # transformers 4.20: no connection and nothing cached
            "offline mode",  # TRANSFORMERS_OFFLINE / HF_HUB_OFFLINE
            "huggingface.co",
            "not a valid model identifier",
        )
    )


@contextmanager
def building(config: Dict[str, Any], needs_model: bool) -> Iterator[None]:
    """
    Building the experiment `config`'s data or model: a missing data file and a transformer
    only the unreachable hub has become `ConfigurationError`s (`needs_model`: whether the
    command needs the model itself, which changes `NeedsHub`'s way out).
    """
    try:
        yield
    except FileNotFoundError as error:
        raise ConfigurationError(
            f"{error}: data paths in the config are read relative to the folder the command "
            "runs in; run it from that folder or override the path with -o."
        ) from error
    except (OSError, ValueError) as error:
        if not hub_unreachable(error):
            raise
        raise NeedsHub(config, needs_model, error) from error
