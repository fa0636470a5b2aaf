"""
Which of the optimizer's param groups form which layer, for gradual unfreezing and
discriminative fine-tuning (pure: group sizes and names in, group indices out).

The param groups are AllenNLP's: the configured `parameter_groups` in config order, then the
default group for every parameter no regex matched. A layer is one param group, or several
that share a `name` in their options: a layer's weights with weight decay and its biases and
LayerNorm weights without are one layer with two groups.
"""
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple, Union


def layer_group_indices(group_sizes: Sequence[int], gradual_unfreezing: bool) -> List[int]:
    """
    The indices of the param groups that belong to layers, bottom first: with gradual
    unfreezing the default group (the last) is not a layer; otherwise it is the top one when
    it has parameters.
    """
    *configured, default = group_sizes
    indices = list(range(len(configured)))
    if not gradual_unfreezing and default:
        indices.append(len(configured))
    return indices


def layers_of(
    group_sizes: Sequence[int], group_names: Sequence[str], gradual_unfreezing: bool
) -> List[List[int]]:
    """
    The layers, bottom first, each as the indices of its param groups: groups with the same
    non-empty `name` are one layer, placed where its first group is; any other group is a layer
    of its own.
    """
    layers: Dict[Union[str, Tuple[int]], List[int]] = {}
    for index in layer_group_indices(group_sizes, gradual_unfreezing):
        name = group_names[index]
        layers.setdefault(name if name else (index,), []).append(index)
    return list(layers.values())


def label_groups(names: Sequence[Optional[str]]) -> List[str]:
    """
    The label of each param group, the same everywhere: the training log, the errors and
    warnings, `stlr_trace`, and the preview's table, CSV and plot. It is the group's `name`
    option (`stlr-groups` and `stlr.libsonnet` write one for every group), else `group N`, N
    being the group's index in the optimizer; the groups of a layer of several (a shared name)
    are `name [k/n]`, so each label shows its layer and its place in it.
    """
    counts = Counter(name for name in names if name)
    seen: Counter = Counter()
    labels = []
    for index, name in enumerate(names):
        if not name:
            labels.append(f"group {index}")
        elif counts[name] == 1:
            labels.append(name)
        else:
            seen[name] += 1
            labels.append(f"{name} [{seen[name]}/{counts[name]}]")
    return labels
