"""A task for `benchmarks.runs.run_tasks` in a module of its own, light to import, so that
each fresh interpreter the pool starts imports torch and nothing of AllenNLP."""
import os
from typing import Tuple


def where_it_ran(task: int) -> Tuple[int, int, int]:
    """The task, the process it ran in, and that process's torch threads."""
    import torch

    return task, os.getpid(), torch.get_num_threads()
