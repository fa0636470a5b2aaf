"""The preview as a table, a CSV of every update and a plot, each group called by its name."""
import csv
import shutil
from pathlib import Path
from typing import Any, List, Optional, Sequence

import numpy as np

from allennlp_stlr.tools.preview.experiment import GroupSpec, group_labels
from allennlp_stlr.tools.preview.simulate import Preview, stand_in_size


def _unfrozen(preview: Preview, index: int) -> str:
    if stand_in_size(preview.experiment.groups, index) == 0:
        return "empty"
    update = preview.first_trainable_update(index)
    if update == 0:
        return "never"
    return f"update {update} (epoch {int(preview.epoch[update - 1])})"


def _regexes(groups: Sequence[GroupSpec], index: int) -> str:
    if groups[index].regexes:
        return " ".join(groups[index].regexes)
    if len(groups) == 1:
        return "(every trainable parameter)"
    return "(parameters that no regex matches)"


# Without a terminal (a pipe, a file, COLUMNS unset), rows are cut to this width.
DEFAULT_COLUMNS = 120
# The regexes column keeps at least this many characters, however wide the other columns.
_MIN_REGEXES = 24
_GROUP_COLUMNS = ["group", "name", "params", "peak lr", "floor lr", "unfrozen", "regexes"]


def _group_rows(preview: Preview) -> List[List[str]]:
    """One row per group, as in `_GROUP_COLUMNS`, with every regex in full."""
    groups = preview.experiment.groups
    labels = group_labels(groups)
    return [
        [
            str(index),
            labels[index],
            "?" if group.num_parameters is None else f"{group.num_parameters:,}",
            f"{preview.peak[index]:.4g}",
            f"{preview.floor[index]:.4g}",
            _unfrozen(preview, index),
            _regexes(groups, index),
        ]
        for index, group in enumerate(groups)
    ]


def shortened(text: str, room: int) -> str:
    """`text` in at most `room` characters: its start and its end around "...". The end
    of a layer's regexes is what tells the layers of a stack apart (`layer\\.11\\.`)."""
    if len(text) <= room:
        return text
    head = (room - 3) // 3
    return text[:head] + "..." + text[len(text) - (room - 3 - head) :]


def format_table(preview: Preview, columns: Optional[int] = None) -> str:
    """
    The run's length, the scheduler's settings, one row per group and how to read them.
    Rows are cut to `columns` characters (by default the terminal's width, or `COLUMNS`,
    else `DEFAULT_COLUMNS`) by shortening the regexes; `write_csv` writes them in full.
    """
    if columns is None:
        columns = shutil.get_terminal_size((DEFAULT_COLUMNS, 24)).columns
    experiment = preview.experiment
    total = len(preview.lr)
    per = " per worker" if experiment.workers > 1 else ""
    lines = [
        f"{experiment.num_epochs} epochs x {experiment.updates_per_epoch} updates{per} = "
        f"{total} updates (updates per epoch from {experiment.steps_source})",
        "slanted_triangular: "
        + ", ".join(f"{k} = {v}" for k, v in preview.settings.items() if v is not None),
        "",
    ]
    rows = _group_rows(preview)
    width = max(len("name"), *(len(row[1]) for row in rows))
    state = max(len("unfrozen"), *(len(row[5]) for row in rows))
    lines.append(
        f"{'group':>5}  {'name':<{width}}  {'params':>11}  {'peak lr':>10}  {'floor lr':>10}"
        f"  {'unfrozen':<{state}}  regexes"
    )
    cut = False
    for index, name, count, peak, floor, unfrozen, regexes in rows:
        row = (
            f"{index:>5}  {name:<{width}}  {count:>11}  {peak:>10}  {floor:>10}"
            f"  {unfrozen:<{state}}  "
        )
        room = max(_MIN_REGEXES, columns - len(row))
        cut = cut or len(regexes) > room
        lines.append(row + shortened(regexes, room))
    peaks = preview.peaks
    lines.append("")
    if peaks:
        lines.append(
            f"warm-up: {peaks[0]} update(s) to the first peak; {len(peaks)} triangle(s), "
            f"peaking at update(s) {', '.join(map(str, peaks[:12]))}"
            + (" ..." if len(peaks) > 12 else "")
        )
    lines += [
        "peak lr: the group's highest rate; floor lr: peak / ratio, where a triangle starts "
        "and ends; unfrozen: the update from which the group trains",
        "updates are counted from 1 and epochs from 0, as in AllenNLP's logs and the "
        "stlr_trace callback",
    ]
    if cut:
        lines.append(
            f"regexes: shortened to fit {columns} columns (\"...\" stands for the middle); "
            "--csv FILE.csv also writes this table with every regex in full to FILE.groups.csv"
        )
    if experiment.sized_by_data:
        namespaces = ", ".join(repr(n) for n in experiment.sized_by_data)
        lines.append(
            f"params ?: not counted: the model's sizes come from the vocabulary of the data "
            f"(namespace {namespaces}), which --steps-per-epoch does not read; the schedule "
            "takes each group to hold parameters and AllenNLP's default group none"
        )
    elif any(group.num_parameters is None for group in experiment.groups):
        lines.append(
            "params ?: not counted, since --steps-per-epoch skips building the model unless "
            "the scheduler uses layer groups"
        )
    return "\n".join(lines)


def groups_csv_path(path: str) -> str:
    """Where `write_csv` puts the groups table beside the updates: `lr.csv` -> `lr.groups.csv`."""
    file = Path(path)
    stem = file.stem if file.suffix == ".csv" else file.name
    return str(file.with_name(f"{stem}.groups.csv"))


def csv_header(groups: Sequence[GroupSpec]) -> List[str]:
    labels = group_labels(groups)
    return ["update", "epoch"] + [f"lr: {x}" for x in labels] + [f"trainable: {x}" for x in labels]


def write_csv(preview: Preview, path: str) -> str:
    """
    One row per update: update (1-based), epoch (0-based), each group's rate and flag. The
    table's rows, with every regex in full, go to `groups_csv_path(path)`, which is returned.
    """
    groups_path = groups_csv_path(path)
    with open(groups_path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(_GROUP_COLUMNS)
        writer.writerows(_group_rows(preview))
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(csv_header(preview.experiment.groups))
        flags = preview.trainable.astype(int)
        for row in range(len(preview.lr)):
            writer.writerow(
                [row + 1, int(preview.epoch[row])]
                + [repr(float(x)) for x in preview.lr[row]]
                + flags[row].tolist()
            )
    return groups_path


def plot(
    preview: Preview, path: str, title: Optional[str] = None, log_y: bool = False
) -> None:
    """Write `figure(...)` to `path` (PNG)."""
    import matplotlib.pyplot as plt

    drawn = figure(preview, title, log_y)
    drawn.savefig(path)
    plt.close(drawn)


def figure(preview: Preview, title: Optional[str] = None, log_y: bool = False) -> Any:
    """One curve per group over updates; frozen spans dotted and grey, epoch ends marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    total, count = preview.lr.shape
    updates = np.arange(1, total + 1)
    # The curves are piecewise linear: a few thousand points plus every corner are exact.
    changes = np.abs(np.diff(preview.lr, n=2, axis=0)).max(axis=1) > 0
    flips = np.flatnonzero((np.diff(preview.trainable, axis=0)).any(axis=1))
    corners = np.r_[np.flatnonzero(changes) + 1, flips, flips + 1]
    keep = np.unique(
        np.r_[np.linspace(0, total - 1, min(total, 4000)).astype(int), corners, corners + 1]
    )
    keep = keep[keep < total]
    drawing, axes = plt.subplots(figsize=(10, 5.5), dpi=100)
    # Distinct hues while they last; a gradient beyond that, bottom to top.
    if count <= 10:
        colours = plt.get_cmap("tab10")(np.arange(count))
    else:
        colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, count))
    labels = group_labels(preview.experiment.groups)
    # Handles and labels are given to the legend explicitly: from line labels matplotlib
    # leaves out any that starts with "_", as module names do (`_text_field_embedder`).
    handles: List[Any] = []
    shown: List[str] = []
    any_frozen = False
    for index in range(count):
        if stand_in_size(preview.experiment.groups, index) == 0:
            continue
        rates = preview.lr[keep, index]
        frozen = ~preview.trainable[keep, index]
        (line,) = axes.plot(
            updates[keep], np.where(frozen, np.nan, rates), color=colours[index]
        )
        handles.append(line)
        shown.append(labels[index])
        if frozen.any():
            any_frozen = True
            # Extend one point into the trainable span so the two pieces join.
            dotted = frozen | np.r_[False, frozen[:-1]]
            axes.plot(
                updates[keep], np.where(dotted, rates, np.nan), color="0.6", linestyle=":",
                linewidth=1.2,
            )
    if any_frozen:
        handles += axes.plot([], [], color="0.6", linestyle=":")
        shown.append("frozen (rate set, not training)")
    per_epoch = preview.experiment.updates_per_epoch
    for end in range(1, preview.experiment.num_epochs):
        axes.axvline(end * per_epoch + 0.5, color="0.85", linewidth=0.8, zorder=0)
    if log_y:
        axes.set_yscale("log")
        axes.set_ylabel("learning rate (log scale)")
    else:
        axes.set_ylim(bottom=0)
        axes.set_ylabel("learning rate")
    axes.set_xlim(0, total + 1)
    axes.set_xlabel("optimizer update (thin grey lines: epoch ends)")
    axes.set_title(title or "slanted triangular learning rates per layer group")
    axes.legend(handles, shown, loc="best", fontsize="small", ncol=2 if count > 8 else 1)
    drawing.tight_layout()
    return drawing
