"""
Student-t confidence intervals for a mean over a handful of seeds, and the paired
differences of two recipes trained on the same seeds and splits.
"""
import statistics
from typing import Dict, List, Mapping, Optional, Sequence

from scipy import stats


def t_interval(values: Sequence[float], level: float = 0.95) -> Dict[str, Optional[float]]:
    """Mean, standard deviation and the two-sided `level` t-interval of the mean.

    With fewer than two values there is no spread to estimate: `std`, `low` and `high`
    are None.
    """
    if not values:
        raise ValueError("t_interval needs at least one value")
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return {"n": n, "mean": mean, "std": None, "low": None, "high": None}
    std = statistics.stdev(values)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * std / n**0.5
    return {"n": n, "mean": mean, "std": std, "low": mean - half, "high": mean + half}


def paired_differences(
    values: Mapping[int, float], baseline: Mapping[int, float]
) -> List[float]:
    """`values[s] - baseline[s]` for every seed `s` both have, in seed order."""
    return [values[seed] - baseline[seed] for seed in sorted(set(values) & set(baseline))]
