"""The sweep as a plot (loss against the swept rate, the suggestion marked) and a CSV."""
import csv
import math
from typing import Dict, Optional

from allennlp_stlr.tools.find_lr import rules
from allennlp_stlr.tools.find_lr.sweep import Sweep


def write_csv(result: Sweep, path: str) -> None:
    """One row per step: the rate of every param group, the loss and the smoothed loss."""
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["step"] + [f"lr: {label}" for label in result.labels] + ["loss", "smoothed loss"]
        )
        for step, (loss, smooth) in enumerate(zip(result.losses, result.smoothed)):
            rates = [repr(rate) for rate in result.group_rates(step)]
            writer.writerow([step] + rates + [repr(loss), repr(smooth)])


def plot(
    result: Sweep, path: str, suggestions: Dict[str, float], rule: str, title: Optional[str] = None
) -> None:
    """The raw and smoothed loss against trainer.optimizer.lr (log scale), every rule's
    suggestion marked on the smoothed curve, the chosen one larger; written to `path` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawing, axes = plt.subplots(figsize=(9, 5.5), dpi=100)
    axes.plot(result.rates, result.losses, color="0.75", linewidth=0.8, label="loss")
    axes.plot(result.rates, result.smoothed, color="tab:blue", label="smoothed loss")
    # The rules' part of the curve sets the scale: a diverging tail would flatten the rest.
    _, read = rules.trimmed(result.rates, result.smoothed, result.planned_steps)
    low = min(min(result.losses), min(result.smoothed))
    high = max(read or result.smoothed)
    axes.set_ylim(low - 0.05 * (high - low), high + 0.25 * (high - low) + 1e-12)
    colours = plt.get_cmap("tab10").colors[1:]
    for (name, value), colour in zip(suggestions.items(), colours):
        chosen = name == rule
        axes.plot(
            [value], [_loss_at(result, value)], "o", color=colour, markersize=10 if chosen else 6,
            label=f"{name}: {value:.2g}" + (" (suggested)" if chosen else ""),
        )
    axes.set_xscale("log")
    axes.set_xlabel("trainer.optimizer.lr (each group's peak rate scales with it)")
    axes.set_ylabel("training loss")
    if title:
        axes.set_title(title)
    axes.legend(loc="best")
    drawing.tight_layout()
    drawing.savefig(path)
    plt.close(drawing)


def _loss_at(result: Sweep, rate: float) -> float:
    """The smoothed loss at the recorded rate nearest to `rate` (in log scale)."""
    nearest = min(
        range(len(result.rates)), key=lambda i: abs(math.log(result.rates[i]) - math.log(rate))
    )
    return result.smoothed[nearest]
