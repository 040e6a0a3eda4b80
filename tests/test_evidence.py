"""A miniature of the whole evidence pipeline (`bang-evidence run` then `tabulate`): every step for two seeds on
synthetic debtrans-format data from a stand-in pretrained model, so the pipeline cannot silently break (CI runs it;
it needs no shared data)."""

import json

import pytest

from bang_spmd.cli import evidence
from bang_spmd.experiments import evidence as experiment
from bang_spmd.experiments import pipeline

from .helpers import save_tiny_pretrained, translation_rows


STUDENTS = ["nar-gold", "nar-distilled", "nar-spmd", "nar-spmd-agreement"]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("evidence")
    data = root / "data"
    data.mkdir()
    for split, (n, seed) in {"train": (30, 0), "validation": (6, 1), "test": (8, 2)}.items():
        rows = translation_rows(n, seed)
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    model = save_tiny_pretrained(root / "tiny-pretrained", [r[c] for r in translation_rows(30) for c in ("en", "fr")])
    argv = ["run", "--task", "debtrans", "--data_dir", str(data), "--output_dir", str(root / "runs"),
            "--init_model", str(model), "--teacher_steps", "3", "--student_steps", "2", "--batch_size", "8",
            "--eval_samples", "6", "--latency_samples", "2"]  # fmt: skip
    result = evidence.main([*argv, "--seeds", "1", "2", "--students", *STUDENTS])
    return root, argv, result


def test_every_seed_is_a_whole_replicate_from_the_pretrained_start(grid):
    root, _, result = grid
    assert [run["seed"] for run in result["runs"]] == [1, 2]
    for run in result["runs"]:
        assert [row["method"] for row in run["rows"]] == ["ar-greedy", "ar-beam4", "semi-nar-k2", *STUDENTS]
        saved = json.loads((root / "runs" / "debtrans" / f"seed-{run['seed']}" / "results.json").read_text())
        assert saved == run
        for row in run["rows"]:
            assert row["samples"] == 6 and row["ms_per_sample_batch1"] > 0 and 0 <= row["bleu4"] <= 100
            assert row["command"].startswith("bang-evaluate") and "--where kind=synopsis" in row["command"]
        commands = (root / "runs" / "debtrans" / f"seed-{run['seed']}" / "commands.txt").read_text()
        assert commands.count("--model_name_or_path") == 1 + len(STUDENTS)  # every model from the start model
    first, second = (root / "runs" / "debtrans" / f"seed-{s}" / "teacher" / "model.safetensors" for s in (1, 2))
    assert first.read_bytes() != second.read_bytes()  # a seed replicates the teacher too
    config = json.loads((root / "runs" / "debtrans" / "seed-1" / "teacher" / "config.json").read_text())
    assert config["ngram"] == 2  # AR and semi-NAR from one n-stream model
    assert len((root / "runs" / "debtrans" / "data" / "train.jsonl").read_text().splitlines()) == 30  # synopses


def test_tabulate_aggregates_spread_gap_bootstrap_and_gates(grid, tmp_path):
    root, _, result = grid
    argv = ["tabulate", "--runs_dir", str(root / "runs"), "--output_dir", str(tmp_path), "--bootstrap_samples", "20"]
    record = evidence.main(argv)
    task = record["results"]["debtrans"]
    assert task["metrics"] == ["bleu4", "chrf"]
    cells = task["methods"]
    for method in ("ar-greedy", "ar-beam4", "semi-nar-k2", *STUDENTS):
        bleu = [r["bleu4"] for run in result["runs"] for r in run["rows"] if r["method"] == method]
        assert cells[method]["bleu4"]["values"] == bleu and cells[method]["seeds"] == [1, 2]
    ar, gold, spmd = (cells[m]["chrf"]["mean"] for m in ("ar-beam4", "nar-gold", "nar-spmd"))
    assert cells["nar-spmd"]["gap_closed"]["chrf"] == (
        pytest.approx((spmd - gold) / (ar - gold)) if ar > gold else None
    )
    assert cells["ar-beam4"]["speedup_vs_ar_beam4"] == pytest.approx(1.0)
    assert set(task["bootstrap"]) == {f"{v} vs {b}" for v in ("nar-spmd", "nar-spmd-agreement")
                                      for b in ("nar-distilled", "nar-gold")}  # fmt: skip
    for test in task["bootstrap"].values():
        assert 0.0 <= test["p_value"] <= 1.0 and test["examples"] == 12  # 6 test rows x 2 seeds, paired
    assert set(task["gates"]) == {"teacher_beats_nar_gold", "seq_kd_beats_nar_gold"}
    assert task["gates"]["teacher_beats_nar_gold"]["needed"] == 3.0
    table = (tmp_path / "results.md").read_text()
    assert "Paired bootstrap" in table and "gate `teacher_beats_nar_gold`" in table and "± " in table
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit, match="fewer than --min_seeds 3 seeds"):
        evidence.main([*argv, "--min_seeds", "3"])


def test_paired_bootstrap_finds_a_clear_difference_and_none_between_equal_systems():
    references = [f"outil numéro {i} pour les fichiers" for i in range(30)]
    worse = [f"outil {i}" for i in range(30)]
    better = experiment.paired_bootstrap("chrf", references, worse, references, samples=50)
    assert better["difference"] > 0 and better["p_value"] == 0.0
    assert experiment.paired_bootstrap("chrf", worse, worse, references, samples=50)["p_value"] == 1.0


def test_a_finished_run_is_not_redone_and_changed_settings_are_refused(grid, monkeypatch):
    root, argv, result = grid

    def refuse(*arguments):
        raise AssertionError(f"a finished step ran again: {arguments}")

    for recipe in ("finetune", "distill", "train_spmd"):
        monkeypatch.setattr(pipeline.recipes, recipe, refuse)
    monkeypatch.setattr(pipeline.evaluation, "evaluate_split", refuse)
    again = evidence.main([*argv, "--seeds", "1", "--students", *STUDENTS])
    assert again["runs"] == result["runs"][:1]
    with pytest.raises(SystemExit, match="other settings"):
        evidence.main([*argv, "--seeds", "1", "--teacher_steps", "4"])
    with pytest.raises(SystemExit, match="custom needs --data_dir"):
        evidence.main(["run", "--task", "custom", "--output_dir", str(root)])


def test_from_scratch_trains_the_start_models_shape_from_random_weights(grid, tmp_path):
    root, argv, _ = grid
    init = root / "tiny-pretrained"
    args = [*argv[: argv.index("--output_dir")], "--output_dir", str(tmp_path), *argv[argv.index("--init_model") :]]
    evidence.main([*args, "--from_scratch", "--seeds", "1", "--students", "nar-gold"])
    started = json.loads((init / "config.json").read_text())
    trained = json.loads((tmp_path / "debtrans-scratch" / "seed-1" / "teacher" / "config.json").read_text())
    assert trained["hidden_size"] == started["hidden_size"] and trained["vocab_size"] == started["vocab_size"]
    commands = (tmp_path / "debtrans-scratch" / "seed-1" / "commands.txt").read_text()
    assert "--model_name_or_path" not in commands and f"--tokenizer_name_or_path {init}" in commands
