"""
Whole `allennlp train` runs of the fixture experiment, with allennlp-stlr's scheduler
against AllenNLP's built-in one, alternating.

    .venv/bin/python -m benchmarks.train_overhead --pairs 5

"ours" runs from the repository root, whose `.allennlp_plugins` names allennlp_stlr; the
built-in runs from an empty folder, so no plugin replaces "slanted_triangular". Both get
absolute data paths and no callbacks (the fixture's `stlr_trace` callback belongs to the
plugin and is not what is measured). Each pair runs both, which one goes first
alternating. Each child runs torch on `--threads` threads (default 1), as oversubscribed
cores make torch's thread pool stall at random and swamp the difference being measured.
Reported per pair: wall seconds, CPU seconds of the child process (robust on
a shared machine) and AllenNLP's own `training_duration`; then the median ratio
ours / built-in of each.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from benchmarks.runs import duration_seconds

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "fixtures" / "experiment.jsonnet"
ALLENNLP = Path(sys.executable).parent / "allennlp"
SERVED_BY = 'LearningRateScheduler "slanted_triangular" is now served by'


def train_once(which: str, workdir: Path, threads: int) -> Dict[str, float]:
    """One `allennlp train` of the fixture; raises if the wrong scheduler served it."""
    cwd = ROOT if which == "ours" else workdir / "builtin-cwd"
    cwd.mkdir(parents=True, exist_ok=True)
    serialization_dir = workdir / f"run-{which}"
    overrides = {
        "train_data_path": str(ROOT / "fixtures" / "data" / "train.jsonl"),
        "validation_data_path": str(ROOT / "fixtures" / "data" / "dev.jsonl"),
        "trainer.callbacks": [],
    }
    command = [str(ALLENNLP), "train", str(CONFIG), "-s", str(serialization_dir), "-f"]
    command += ["-o", json.dumps(overrides)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{which}: allennlp train failed:\n{done.stderr[-3000:]}")
    if (SERVED_BY in done.stderr) != (which == "ours"):
        raise RuntimeError(f"{which}: the run was not served by the expected scheduler")
    metrics = json.loads((serialization_dir / "metrics.json").read_text())
    return {
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "train_s": duration_seconds(metrics["training_duration"]),
    }


ROW_LABELS = {
    "wall_s": "wall time of `allennlp train`",
    "cpu_s": "CPU time of the child process",
    "train_s": "AllenNLP's `training_duration`",
}


def summary_table(result: Dict[str, object]) -> str:
    """The printed Markdown table: per measure, the median of ours and the median ratio."""
    runs = result["runs"]
    lines = ["| median ratio ours / built-in | value |", "|---|---:|"]
    for metric, label in ROW_LABELS.items():
        ours = statistics.median(run[metric] for run in runs["ours"])  # type: ignore[index]
        ratio = result["median_ratio"][metric]  # type: ignore[index]
        lines.append(f"| {label} (ours ≈ {ours:.1f} s) | {ratio:.3f} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    runs: Dict[str, List[Dict[str, float]]] = {"ours": [], "built-in": []}
    print(f"{'pair':>4}  {'first':<8} " + "  ".join(
        f"{k + ' ' + m:>14}" for k in runs for m in ("wall", "cpu", "train")
    ))
    with tempfile.TemporaryDirectory() as tmp:
        for pair in range(args.pairs):
            order = ["ours", "built-in"] if pair % 2 == 0 else ["built-in", "ours"]
            for which in order:
                runs[which].append(train_once(which, Path(tmp), args.threads))
            cells = [
                f"{runs[k][-1][m]:>14.2f}" for k in runs for m in ("wall_s", "cpu_s", "train_s")
            ]
            print(f"{pair:>4}  {order[0]:<8} " + "  ".join(cells), flush=True)
    ratios = {
        metric: statistics.median(
            ours[metric] / builtin[metric] for ours, builtin in zip(runs["ours"], runs["built-in"])
        )
        for metric in ("wall_s", "cpu_s", "train_s")
    }
    result = {"pairs": args.pairs, "runs": runs, "median_ratio": ratios}
    print(summary_table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
