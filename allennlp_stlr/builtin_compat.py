"""
The readable attributes of AllenNLP's built-in SlantedTriangular, as properties of ours, with
the values the built-in has at the same point of a run: code written against the built-in
keeps working (test_scheduler_builtin_attributes.py). None of them is used by the schedule.
"""
from typing import List


class BuiltinAttributes:
    """A mixin for `SlantedTriangular`, read from its counters and its `trainable()` flags."""

    _updates: int
    _epoch_ends: List[int]
    gradual_unfreezing: bool

    def trainable(self) -> List[bool]:
        raise NotImplementedError

    @property
    def freezing_current(self) -> bool:
        """Whether some layer group is frozen for the next update."""
        return not all(self.trainable())

    @property
    def is_first_epoch(self) -> bool:
        """The built-in's constructor runs its own `step()`, which clears it with gradual
        unfreezing: False with gradual unfreezing, True without."""
        return not self.gradual_unfreezing

    @property
    def last_batch_num_total(self) -> int:
        """Updates applied so far."""
        return self._updates

    @property
    def batch_num_total_epoch_end(self) -> List[int]:
        """0, then the update count at each epoch end."""
        return [0] + self._epoch_ends
