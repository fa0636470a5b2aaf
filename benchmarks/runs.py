"""
What the training benchmarks share: running their training tasks a few at a time, each in
a fresh interpreter, and reading AllenNLP's training duration.
"""
import multiprocessing
from typing import Any, Callable, Iterator, Sequence, TypeVar

Task = TypeVar("Task")


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def run_tasks(
    function: Callable[[Task], Any], tasks: Sequence[Task], jobs: int, threads: int
) -> Iterator[Any]:
    """
    `function(task)` for each task, in completion order, `jobs` at a time with `threads`
    torch threads each. `function` must be importable (a module-level function).
    """
    if jobs == 1:
        _init_worker(threads)
        for task in tasks:
            yield function(task)
        return
    # A fresh interpreter per task: no torch state is shared, and its CPU time is its own.
    context = multiprocessing.get_context("spawn")
    with context.Pool(
        jobs, initializer=_init_worker, initargs=(threads,), maxtasksperchild=1
    ) as pool:
        yield from pool.imap_unordered(function, tasks, chunksize=1)


def duration_seconds(duration: str) -> float:
    """AllenNLP's "H:MM:SS.ffffff" training duration (`metrics.json`) in seconds."""
    hours, minutes, seconds = duration.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
