"""
The ULMFiT LSTM benchmark end to end on a tiny slice, so that it cannot rot: a small
language model on 40 IMDb reviews, then five of its recipes (real `allennlp train` of the
shipped configs/ulmfit_lstm_classifier.jsonnet) at both training sizes with two seeds,
one search value each; the LM's weights in the classifier; every recipe's config; the
checks before training; and the saved results the READMEs quote.
"""
import copy
import dataclasses
import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import torch
from allennlp.commands.train import TrainModel
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models.archival import load_archive

from benchmarks import finder, lstm_lm, prepare_data, recipes, ulmfit_lstm
from tests.benchmarks.helpers import assert_refused

README = Path(__file__).resolve().parents[2] / "benchmarks" / "README.md"
SIZES = ["--sizes", "8", "16", "8", "8"]
LM = ["--lm-reviews", "40", "--lm-held-out", "10", "--lm-vocabulary", "500", "--lm-samples", "50"]
TRAINED = ["from_scratch", "full", "last", "ulmfit", "ulmfit_decay"]
EPOCHS = 5


def _main(out: Path, *extra: str) -> List[Dict[str, Any]]:
    return ulmfit_lstm.main(
        ["--out", str(out / "out"), "--data", str(out / "data"), *SIZES, *LM,
         "--seeds", "2", "--epochs", str(EPOCHS), "--recipes", *TRAINED, *extra]
    )  # fmt: skip


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, List[Dict[str, Any]]]:
    """One search value per recipe, so that the slice trains 2 x 5 x 2 runs."""
    folder = tmp_path_factory.mktemp("ulmfit_lstm")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            ulmfit_lstm,
            "RECIPES",
            {n: dataclasses.replace(r, grid=r.grid[:1]) for n, r in ulmfit_lstm.RECIPES.items()},
        )
        summaries = _main(folder)
    return folder, summaries


def _trace(folder: Path, size: str, recipe: str, name: str) -> List[Dict[str, Any]]:
    work = folder / "out" / "work" / size / recipe / name
    return prepare_data.read_jsonl(work / "stlr_trace.jsonl")


@pytest.mark.allennlp_train
def test_the_language_model_learns_from_reviews_no_split_uses(
    tiny: Tuple[Path, List[Dict[str, Any]]]
) -> None:
    folder, _ = tiny
    record = json.loads((folder / "out" / "lm" / "lm.json").read_text())
    assert record["reviews"] == {"train": 40, "dev": 10, "test": 10}
    # The 500 most frequent words, padding and unknown.
    assert record["vocabulary_size"] == 502
    metrics = json.loads((folder / "out" / "lm" / "model" / "metrics.json").read_text())
    assert record["test_perplexity"] == metrics["test_perplexity"] > 1
    vocabulary = Vocabulary.from_files(str(folder / "out" / "lm" / "vocabulary"))
    assert record["unigram_test_perplexity"] == lstm_lm.unigram_perplexity(
        folder / "out" / "lm" / "data" / "train.txt",
        folder / "out" / "lm" / "data" / "test.txt",
        vocabulary,
    )
    data = folder / "out" / "lm" / "data"
    lines = {name: (data / f"{name}.txt").read_text().splitlines() for name in record["tokens"]}
    assert {n: sum(len(x.split()) for x in rows) for n, rows in lines.items()} == record["tokens"]
    assert max(len(line.split()) for rows in lines.values() for line in rows) == lstm_lm.CHUNK
    # No review of a classification split is in the LM's text.
    split_dir = folder / "data" / "imdb-8-16-8-8"
    classified = {
        " ".join(lstm_lm.tokenize(row["text"]))
        for name in ("train16", "dev", "test")
        for row in prepare_data.read_jsonl(split_dir / f"{name}.jsonl")
    }
    corpus = "\n".join(line for rows in lines.values() for line in rows)
    assert len(classified) == 32
    assert not any(text[:200] in corpus for text in classified)


@pytest.mark.allennlp_train
def test_every_run_is_recorded_and_the_summary_is_the_harness_s(
    tiny: Tuple[Path, List[Dict[str, Any]]]
) -> None:
    folder, summaries = tiny
    runs = sorted((folder / "out" / "runs").rglob("*.json"))
    assert len(runs) == 2 * len(TRAINED) * 2
    assert [(s["dataset"], s["recipe"], s["seeds"]) for s in summaries] == [
        (size, name, [0, 1]) for size in ("imdb-8", "imdb-16") for name in TRAINED
    ]
    saved = json.loads((folder / "out" / "summary.json").read_text())
    assert (folder / "out" / "summary.md").read_text() == recipes.markdown(saved, "full")
    by = {(s["dataset"], s["recipe"]): s for s in saved}
    # The 8 training reviews: 1 update per epoch, 5 updates; 16: 1 per epoch too (batch 32).
    for size in ("imdb-8", "imdb-16"):
        assert by[(size, "full")]["difference_vs_baseline"] is not None
        assert by[(size, "ulmfit")]["paired_seeds"] == [0, 1]
    records = [json.loads(path.read_text()) for path in runs]
    assert {r["pretrained"] for r in records if r["recipe"] == "from_scratch"} == {False}
    assert {r["pretrained"] for r in records if r["recipe"] != "from_scratch"} == {True}
    machine = json.loads((folder / "out" / "machine.json").read_text())
    assert machine[-1]["argv"]["lm"]["reviews"]["train"] == 40


@pytest.mark.allennlp_train
def test_the_preset_rule_pairs_each_alternative_s_best_dev_with_the_preset_s(
    tiny: Tuple[Path, List[Dict[str, Any]]]
) -> None:
    folder, _ = tiny
    evidence = json.loads((folder / "out" / "preset.json").read_text())
    # The tiny slice trains ulmfit_decay but not ulmfit_updates.
    assert [(e["dataset"], e["recipe"], e["seeds"]) for e in evidence] == [
        (size, name, [0, 1] if name == "ulmfit_decay" else [])
        for size in ("imdb-8", "imdb-16")
        for name in ("ulmfit_updates", "ulmfit_decay")
    ]
    for row in evidence:
        if row["recipe"] == "ulmfit_updates":
            assert row["dev_difference"] is None
            continue
        best = {
            name: [
                json.loads(path.read_text())["best_dev_accuracy"]
                for path in sorted((folder / "out" / "runs" / row["dataset"] / name).glob("*.json"))
            ]
            for name in ("ulmfit", "ulmfit_decay")
        }
        differences = [a - b for a, b in zip(best["ulmfit_decay"], best["ulmfit"])]
        assert row["dev_difference"]["mean"] == pytest.approx(sum(differences) / 2, abs=1e-12)
        assert row["dev_difference"]["n"] == 2


@pytest.mark.allennlp_train
def test_ulmfit_unfreezes_one_group_per_epoch_and_last_trains_only_the_head(
    tiny: Tuple[Path, List[Dict[str, Any]]]
) -> None:
    folder, _ = tiny
    trace = _trace(folder, "imdb-16", "ulmfit", "lr0.001_seed0")
    # Groups: embedding, 3 LSTM layers, head, and AllenNLP's empty default group.
    assert [line["trainable"][:5] for line in trace] == [
        [False] * (4 - e) + [True] * (e + 1) for e in range(EPOCHS)
    ]
    # The top group's rate peaks at the optimizer's lr, each lower group at 0.38 times
    # the one above.
    peaks = [max(line["lr"][g] for line in trace) for g in range(5)]
    assert peaks == pytest.approx([1e-3 * 0.38 ** (4 - g) for g in range(5)])
    # Last: the body's groups are not in the optimizer at all; the head always trains.
    last = _trace(folder, "imdb-16", "last", "lr0.001_seed0")
    assert {tuple(line["trainable"]) for line in last} == {(True, True)}
    record = json.loads(
        (folder / "out" / "runs" / "imdb-16" / "last" / "lr0.001_seed0.json").read_text()
    )
    # The head: batch norm of the 192 pooled features, the feedforward layer, the output.
    head = 2 * 192 + 3 * 64 * 50 + 50 + 50 * 2 + 2
    body = 502 * 64 + 99328 + 132096 + 49664
    assert record["frozen_update_share"] == pytest.approx(body / (body + head))


@pytest.mark.allennlp_train
def test_a_rerun_trains_neither_the_lm_nor_any_finished_run(
    tiny: Tuple[Path, List[Dict[str, Any]]], capsys: pytest.CaptureFixture
) -> None:
    folder, _ = tiny
    archive = folder / "out" / "lm" / "model" / "model.tar.gz"
    stamp = archive.stat().st_mtime_ns
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            ulmfit_lstm,
            "RECIPES",
            {n: dataclasses.replace(r, grid=r.grid[:1]) for n, r in ulmfit_lstm.RECIPES.items()},
        )
        capsys.readouterr()
        _main(folder)
    printed = capsys.readouterr().out
    assert "language model: cached" in printed
    assert printed.count("skip ") == 2 * len(TRAINED) * 2
    assert "\ntrain " not in printed
    assert archive.stat().st_mtime_ns == stamp


@pytest.mark.allennlp_train
def test_the_finder_builds_a_set_as_the_benchmark_trained_it(
    tiny: Tuple[Path, List[Dict[str, Any]]], tmp_path: Path
) -> None:
    """The finder benchmark sweeps the experiment this harness trains (`run_config`), on
    the same splits and with the same LM; only the number of epochs is the finder's."""
    folder, _ = tiny
    harnesses = finder.Harnesses(
        tmp_path / "recipes", tmp_path / "data", folder / "out", folder / "data",
        lstm_sizes=[int(n) for n in SIZES[1:]],
    )  # fmt: skip
    keys = {"dataset": "imdb-16", "recipe": "ulmfit"}
    harnesses.prepare([keys])
    built = harnesses.params(keys, 1e-3).as_dict(quiet=True)
    work = folder / "out" / "work" / "imdb-16" / "ulmfit" / "lr0.001_seed0"
    trained = json.loads((work / "config.json").read_text())
    assert (built["trainer"].pop("num_epochs"), trained["trainer"].pop("num_epochs")) == (
        ulmfit_lstm.EPOCHS, EPOCHS
    )
    assert built == trained
    assert not (tmp_path / "data").exists()  # the MiniLM sets' data is not prepared


@pytest.mark.allennlp_train
def test_a_report_rewrites_the_summary_from_the_runs_without_an_lm(
    tiny: Tuple[Path, List[Dict[str, Any]]], tmp_path: Path
) -> None:
    """As on a fresh clone, where the runs are committed and the LM's weights are not."""
    folder, _ = tiny
    shutil.copytree(folder / "out" / "runs", tmp_path / "out" / "runs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            ulmfit_lstm,
            "RECIPES",
            {n: dataclasses.replace(r, grid=r.grid[:1]) for n, r in ulmfit_lstm.RECIPES.items()},
        )
        _main(tmp_path, "--report")
    assert not (tmp_path / "out" / "lm").exists()
    assert not (tmp_path / "out" / "work").exists()
    assert (tmp_path / "out" / "summary.json").read_text() == (
        folder / "out" / "summary.json"
    ).read_text()


def _build(config: Dict[str, Any], data: Path, tmp_path: Path) -> torch.nn.Module:
    # Params pops what it builds: a copy keeps `config` whole.
    config = dict(copy.deepcopy(config), train_data_path=str(data / "train8.jsonl"),
                  validation_data_path=str(data / "dev.jsonl"))  # fmt: skip
    config.pop("test_data_path", None)
    loop = TrainModel.from_params(
        params=Params(config), serialization_dir=str(tmp_path), local_rank=0
    )
    return loop.model


@pytest.mark.allennlp_train
def test_the_classifier_starts_from_the_lm_s_weights_and_from_scratch_does_not(
    tiny: Tuple[Path, List[Dict[str, Any]]], tmp_path: Path
) -> None:
    folder, _ = tiny
    lm_dir = folder / "out" / "lm" / "model"
    lm = load_archive(str(lm_dir / "model.tar.gz")).model.state_dict()
    base = Params.from_file(
        str(ulmfit_lstm.CONFIG), ext_vars={"ULMFIT_LM": str(lm_dir)}
    ).as_dict(quiet=True)
    data = folder / "data" / "imdb-8-16-8-8"
    pairs = {"_text_field_embedder.token_embedder_tokens.weight":
             "_text_field_embedder.token_embedder_tokens.weight"}  # fmt: skip
    for layer in range(3):
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            pairs[f"_seq2seq_encoder.encoder{layer}._module.{name}"] = (
                f"_contextualizer.encoder{layer}._module.{name}"
            )
    pretrained = _build(base, data, tmp_path / "a").state_dict()
    assert all(torch.equal(pretrained[ours], lm[theirs]) for ours, theirs in pairs.items())
    scratch_config = ulmfit_lstm.recipe_config(base, "from_scratch", 1e-3, None, 8, EPOCHS)
    scratch = _build(scratch_config, data, tmp_path / "b").state_dict()
    assert not any(torch.equal(scratch[ours], lm[theirs]) for ours, theirs in pairs.items())


# ---------------------------------------------------------------- recipes and checks
def _base() -> Dict[str, Any]:
    return ulmfit_lstm.shipped_config("lm")


@pytest.mark.parametrize(
    "recipe, value, train, scheduler, group_options, pretrained",
    [
        # 1,000 reviews: 32 updates per epoch, 192 in 6 epochs, 19 of warm-up.
        ("from_scratch", 3e-3, 1000, {"type": "linear_with_warmup", "warmup_steps": 19},
         [{}] * 5, False),
        ("full", 1e-2, 1000, {"type": "linear_with_warmup", "warmup_steps": 19}, [{}] * 5, True),
        ("full_discr", 1e-2, 100, {"type": "linear_with_warmup", "warmup_steps": 2},
         [{"lr": 1e-2 * 0.38 ** (4 - g)} for g in range(5)], True),
        ("last", 1e-3, 100, {"type": "linear_with_warmup", "warmup_steps": 2},
         [{"requires_grad": False}] * 4 + [{}], True),
        ("freez", 1e-3, 100, {"type": "allennlp_stlr.SlantedTriangular", "cut_frac": 0.1, "ratio": 1,
         "gradual_unfreezing": True, "discriminative_fine_tuning": False, "decay_factor": 0.38},
         [{}] * 5, True),
        ("ulmfit", 1e-3, 100, {"type": "allennlp_stlr.SlantedTriangular", "cut_frac": 0.1, "ratio": 32,
         "gradual_unfreezing": True, "discriminative_fine_tuning": True, "decay_factor": 0.38},
         [{}] * 5, True),
        # 32 updates per epoch, 5 groups: the next group every 6 updates.
        ("ulmfit_updates", 1e-3, 1000, {"type": "allennlp_stlr.SlantedTriangular", "cut_frac": 0.1,
         "ratio": 32, "gradual_unfreezing": True, "discriminative_fine_tuning": True,
         "decay_factor": 0.38, "unfreeze_every_num_updates": 6}, [{}] * 5, True),
        ("ulmfit_decay", 0.65, 1000, {"type": "allennlp_stlr.SlantedTriangular", "cut_frac": 0.1,
         "ratio": 32, "gradual_unfreezing": True, "discriminative_fine_tuning": True,
         "decay_factor": 0.65}, [{}] * 5, True),
    ],
)  # fmt: skip
def test_each_recipe_is_the_shipped_config_with_its_changes(
    recipe: str, value: float, train: int, scheduler: Dict[str, Any],
    group_options: List[Dict[str, Any]], pretrained: bool,
) -> None:  # fmt: skip
    base = _base()
    config = ulmfit_lstm.recipe_config(base, recipe, value, 3e-3, train, 6)
    trainer = config["trainer"]
    assert trainer["learning_rate_scheduler"] == scheduler
    assert trainer["num_epochs"] == 6
    expected_lr = 3e-3 if recipe == "ulmfit_decay" else value
    assert trainer["optimizer"]["lr"] == expected_lr
    options = [
        {k: round(v, 15) if isinstance(v, float) else v for k, v in o.items() if k != "name"}
        for _, o in trainer["optimizer"]["parameter_groups"]
    ]
    assert options == [{k: round(v, 15) for k, v in o.items()} for o in group_options]
    assert ("initializer" in config["model"]) is pretrained
    # The shipped config itself stays as it is.
    assert base == _base()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--recipes", "full", "ulmfit", "--epochs", "4"],
         "recipe 'ulmfit' unfreezes one of its 5 layer groups per epoch and needs "
         "--epochs >= 5, got 4"),
        (["--recipes", "full", "ulmfit_decay"],
         "'ulmfit_decay' searches decay_factor at the rate 'ulmfit' chose; add 'ulmfit'"),
        (["--recipes", "full", "--sizes", "16", "8", "8", "8"],
         "--sizes takes four even numbers >= 2 \\(small train < large train"),
        (["--recipes", "full", "--seeds", "0"], "--seeds, --epochs, --jobs and --threads"),
    ],
)  # fmt: skip
def test_the_plan_is_checked_before_any_training(
    argv: List[str], message: str, tmp_path: Path
) -> None:
    out = ["--out", str(tmp_path / "out"), "--data", str(tmp_path)]
    assert_refused(ulmfit_lstm.main, out + argv, message, tmp_path / "out")


@pytest.mark.parametrize(
    "train, held_out, expected",
    [
        # Vocabulary a, b and unknown; add-one counts a 3, b 2, unknown 1, of 6.
        ("a a b", "a b", math.sqrt(36 / 6)),
        ("a a b", "a a", 6 / 3),
        # c is no word of the vocabulary: it counts as unknown, on both sides.
        ("a a b c", "c", 7 / 2),
    ],
)
def test_the_word_frequency_floor_is_add_one_unigram_perplexity(
    tmp_path: Path, train: str, held_out: str, expected: float
) -> None:
    vocabulary = Vocabulary(counter={"tokens": {"a": 2, "b": 1}})
    (tmp_path / "train.txt").write_text(train + "\n")
    (tmp_path / "held_out.txt").write_text(held_out + "\n")
    assert lstm_lm.unigram_perplexity(
        tmp_path / "train.txt", tmp_path / "held_out.txt", vocabulary
    ) == pytest.approx(expected, rel=1e-12)


def test_without_allennlp_models_the_lm_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "allennlp_models.lm", None)  # as if not installed
    with pytest.raises(ConfigurationError, match="pip install --no-deps allennlp-models==2.10.1"):
        lstm_lm.train(tmp_path, ["a text"], [], held_out=1)


def test_an_lm_too_small_for_its_sampled_softmax_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="num_samples \\(512\\) must be smaller"):
        lstm_lm.train(tmp_path, ["a tiny text", "another one", "and a third"], [], held_out=1)


def test_the_readmes_quote_the_saved_results_as_the_harness_writes_them() -> None:
    results = README.parent / "results" / "ulmfit_lstm"
    saved = json.loads((results / "summary.json").read_text())
    assert (results / "summary.md").read_text() == recipes.markdown(saved, ulmfit_lstm.BASELINE)
    table = recipes.overview(saved, ulmfit_lstm.BASELINE)
    assert table in README.read_text()
    assert table in (README.parents[1] / "README.md").read_text()
