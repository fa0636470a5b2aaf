"""
Cost of `step_batch` per call: allennlp-stlr's `SlantedTriangular` against AllenNLP's
built-in class of the same name, measured in one process.

    .venv/bin/python -m benchmarks.overhead --repeats 41

For each layout (1, 26 and 100 layer groups; plain, and with gradual unfreezing plus
discriminative fine-tuning) both schedulers drive a whole schedule of `groups + 1`
epochs: every repetition builds a fresh pair and times each epoch's `step_batch` calls as
one block, untimed `step()` between epochs. The two classes alternate, and which one goes
first alternates too, so drifts of the machine hit both. Time is this process's CPU
time (`time.process_time_ns`): on a shared machine, wall time also counts the turns of
other processes. Reported: the median over the repetitions of the nanoseconds per call,
and ours / built-in.

The optimizer has one param group per layer group plus AllenNLP's default group, empty
because every parameter is matched, which is what `parameter_groups` produces.
"""
import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch
from allennlp.training.learning_rate_schedulers.slanted_triangular import (
    SlantedTriangular as BuiltinSlantedTriangular,
)

from allennlp_stlr import SlantedTriangular

Factory = Callable[[torch.optim.Optimizer, Dict[str, object]], object]
CLASSES: Dict[str, Factory] = {
    "ours": lambda optimizer, kwargs: SlantedTriangular(optimizer, **kwargs),
    "built-in": lambda optimizer, kwargs: BuiltinSlantedTriangular(optimizer, **kwargs),
}
MODES = {
    "plain": {},
    "unfreezing+discriminative": {"gradual_unfreezing": True, "discriminative_fine_tuning": True},
}
# How each mode is named in the printed table (the README's table is this output).
LABELS = {"plain": "plain", "unfreezing+discriminative": "gradual unfreezing + discriminative"}
HEADER = (
    "| layer groups | mode | ours ns/call | built-in ns/call | ours / built-in |\n"
    "|---:|---|---:|---:|---:|"
)


def make_optimizer(layer_groups: int) -> torch.optim.Optimizer:
    groups = [{"params": [torch.nn.Parameter(torch.zeros(4))]} for _ in range(layer_groups)]
    groups.append({"params": []})  # AllenNLP's default group, empty
    return torch.optim.SGD(groups, lr=1e-3)


def time_schedule(
    factory: Factory,
    layer_groups: int,
    mode: str,
    steps_per_epoch: int,
    rates: Optional[List[List[float]]] = None,
) -> float:
    """Nanoseconds per `step_batch` call over one whole schedule with a fresh scheduler.

    When `rates` is given, each epoch's last learning rates are appended to it (untimed),
    so that a caller can see that both classes were driven through the same schedule.
    """
    epochs = layer_groups + 1
    kwargs = dict(num_epochs=epochs, num_steps_per_epoch=steps_per_epoch, **MODES[mode])
    optimizer = make_optimizer(layer_groups)
    scheduler = factory(optimizer, kwargs)
    elapsed = 0
    update = 0
    for _ in range(epochs):
        first = update + 1
        update += steps_per_epoch
        started = time.process_time_ns()
        for batch_num_total in range(first, update + 1):
            scheduler.step_batch(batch_num_total)
        elapsed += time.process_time_ns() - started
        if rates is not None:
            rates.append([group["lr"] for group in optimizer.param_groups])
        scheduler.step()
    return elapsed / (epochs * steps_per_epoch)


def measure(
    layer_groups: int, mode: str, steps_per_epoch: int, repeats: int
) -> Dict[str, float]:
    samples: Dict[str, List[float]] = {name: [] for name in CLASSES}
    names = list(CLASSES)
    for repetition in range(repeats):
        order = names if repetition % 2 == 0 else names[::-1]
        for name in order:
            samples[name].append(
                time_schedule(CLASSES[name], layer_groups, mode, steps_per_epoch)
            )
    ours, builtin = (statistics.median(samples[name]) for name in names)
    return {"ours_ns": ours, "builtin_ns": builtin, "ratio": ours / builtin}


def table_row(row: Dict[str, object]) -> str:
    """One row of the printed Markdown table."""
    return (
        f"| {row['groups']} | {LABELS[str(row['mode'])]} | {row['ours_ns']:.0f} | "
        f"{row['builtin_ns']:.0f} | {row['ratio']:.2f} |"
    )


def main(argv: Optional[Sequence[str]] = None) -> List[Dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", nargs="+", type=int, default=[1, 26, 100])
    parser.add_argument("--repeats", type=int, default=41, help="schedules per class")
    parser.add_argument("--steps-per-epoch", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    rows: List[Dict[str, object]] = []
    print(HEADER)
    for layer_groups in args.groups:
        for mode in MODES:
            if MODES[mode].get("gradual_unfreezing") and layer_groups < 2:
                continue  # unfreezing needs at least two layer groups
            result = measure(layer_groups, mode, args.steps_per_epoch, args.repeats)
            rows.append({"groups": layer_groups, "mode": mode, **result})
            print(table_row(rows[-1]), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
