"""
Optimizer updates per epoch, counted from the training data loader as the trainer counts them.

The trainer passes the scheduler `ceil(len(data_loader) / num_gradient_accumulation_steps)`,
or nothing when the loader has no length (`max_instances_in_memory`); an epoch then still
runs every batch. Under distributed training each worker reads every `workers`-th instance
(AllenNLP's sharding, starting at its rank), and every epoch ends when the shortest shard
runs out, so the shortest shard's length is the epoch's.
"""
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence

from allennlp.data import DataLoader, Instance, Vocabulary
from allennlp.data.data_loaders import MultiProcessDataLoader


@dataclass(frozen=True)
class UpdateCount:
    """Updates per epoch, what the trainer passes the scheduler, and how they were found."""

    updates: int
    trainer_passes: Optional[int]  # None: the loader has no length
    source: str


def _has_length(loader: DataLoader) -> bool:
    try:
        len(loader)
    except TypeError:
        return False
    return True


def _batches(loader: MultiProcessDataLoader, instances: Sequence[Instance]) -> int:
    """Batches `loader` makes of `instances` in one epoch (its own rules, no tensors)."""
    if loader.batches_per_epoch is not None:
        return loader.batches_per_epoch
    if loader.batch_sampler is not None:
        size = loader.max_instances_in_memory or max(1, len(instances))
        chunks = [instances[i : i + size] for i in range(0, len(instances), size)]
        return sum(loader.batch_sampler.get_num_batches(chunk) for chunk in chunks)
    batch_size: int = loader.batch_size  # type: ignore[assignment]
    if loader.drop_last:
        return len(instances) // batch_size
    return math.ceil(len(instances) / batch_size)


def _iterated_batches(loader: DataLoader) -> int:
    """Batches of one epoch, by iterating the loader (indexed on the fly if need be)."""
    if getattr(loader, "_vocab", None) is None:
        # Any vocabulary that knows the instances' labels gives the same batches.
        loader.index_with(Vocabulary.from_instances(loader.iter_instances()))
    return sum(1 for _ in loader)


def count_updates(loader: DataLoader, accumulation: int, workers: int = 1) -> UpdateCount:
    """Updates per epoch of each worker, for `workers` workers (1 without distributed training)."""
    has_length = _has_length(loader)
    if workers == 1 and has_length:
        batches = len(loader)
        source = f"{batches} batches of the training data"
    elif isinstance(loader, MultiProcessDataLoader):
        instances: List[Instance] = list(loader.iter_instances())
        shards = [_batches(loader, instances[rank::workers]) for rank in range(workers)]
        batches = min(shards)
        if workers == 1:
            source = f"{batches} batches counted (the data loader has no length)"
        else:
            source = (
                f"{batches} batches in the shortest of {workers} workers' shards of "
                f"{len(instances)} instances; AllenNLP ends each epoch there"
            )
    else:
        batches = _iterated_batches(loader)
        if workers > 1:
            # Sharding of other loaders is theirs: each worker gets about 1/workers.
            batches = batches // workers
            source = f"about 1/{workers} of {batches * workers} batches (one worker's share)"
        else:
            source = f"{batches} batches counted (the data loader has no length)"
    updates = math.ceil(batches / accumulation)
    if accumulation > 1:
        source += f" / {accumulation} accumulation steps, rounded up"
    return UpdateCount(updates, updates if has_length else None, source)
