"""A miniature of the whole evidence pipeline (`bang-evidence run` then `tabulate`): every step for two seeds on
synthetic wndef-format data, so the pipeline cannot silently break (CI runs it; it needs no shared data)."""

import json

import pytest

from bang_spmd.cli import evidence
from bang_spmd.experiments import pipeline

from .test_spmd_trainer import synthetic_pairs


MINIATURE = [
    "--teacher_steps", "3", "--student_steps", "2", "--vocab_size", "120", "--hidden_size", "16", "--layers", "1",
    "--attention_heads", "2", "--ffn_dim", "32", "--batch_size", "8", "--distill_samples", "24",
    "--eval_samples", "6", "--latency_samples", "2",
]  # fmt: skip


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("evidence")
    data = root / "data"
    data.mkdir()
    for split, (n, seed) in {"train": (40, 0), "validation": (6, 1), "test": (8, 2)}.items():
        rows = synthetic_pairs(n, seed=seed)
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    runs = root / "runs"
    argv = ["run", "--dataset", "wndef", "--data_dir", str(data), "--output_dir", str(runs), *MINIATURE]
    result = evidence.main([*argv, "--seeds", "1", "2", "--students", "nar-gold", "nar-mixed", "nar-spmd"])
    return root, argv, result


def test_run_writes_the_teacher_once_and_every_student_for_every_seed(grid):
    root, _, result = grid
    teacher, *students = result["runs"]
    assert [row["method"] for row in teacher["rows"]] == ["ar-greedy", "ar-beam4", "semi-nar-k2"]
    assert json.loads((root / "runs" / "wndef" / "teacher-results.json").read_text()) == teacher
    assert [run["seed"] for run in students] == [1, 2]
    for run in students:
        assert [row["method"] for row in run["rows"]] == ["nar-gold", "nar-mixed", "nar-spmd"]
        saved = json.loads((root / "runs" / "wndef" / f"seed-{run['seed']}" / "results.json").read_text())
        assert saved == run
    for run in result["runs"]:
        for row in run["rows"]:
            assert row["samples"] == 6 and row["ms_per_sample_batch1"] > 0 and 0 <= row["rougeL_f1"] <= 100
    first, second = (root / "runs" / "wndef" / f"seed-{s}" / "nar-gold" / "model.safetensors" for s in (1, 2))
    assert first.read_bytes() != second.read_bytes()  # a seed is an independent replicate of the student
    teacher_config = json.loads((root / "runs" / "wndef" / "teacher" / "config.json").read_text())
    assert teacher_config["ngram"] == 2  # AR and semi-NAR from one n-stream model


def test_tabulate_aggregates_means_spread_speedups_and_the_gap(grid, tmp_path):
    root, _, result = grid
    record = evidence.main(["tabulate", "--runs_dir", str(root / "runs"), "--output_dir", str(tmp_path)])
    cells = record["results"]["wndef"]
    for method in ("ar-greedy", "ar-beam4", "semi-nar-k2", "nar-gold", "nar-mixed", "nar-spmd"):
        rouge = [r["rougeL_f1"] for run in result["runs"] for r in run["rows"] if r["method"] == method]
        assert cells[method]["rougeL_f1"]["values"] == rouge
        assert cells[method]["rougeL_f1"]["mean"] == pytest.approx(sum(rouge) / len(rouge))
        assert cells[method]["seeds"] == ([1] if method in ("ar-greedy", "ar-beam4", "semi-nar-k2") else [1, 2])
    for metric in ("rouge1_f1", "rouge2_f1", "rougeL_f1", "bleu4"):
        ar, gold, spmd = (cells[m][metric]["mean"] for m in ("ar-beam4", "nar-gold", "nar-spmd"))
        expected = (spmd - gold) / (ar - gold) if ar > gold else None
        assert cells["nar-spmd"]["gap_closed"][metric] == pytest.approx(expected)
    assert "gap_closed" not in cells["ar-greedy"]
    assert cells["ar-beam4"]["speedup_vs_ar_beam4"] == pytest.approx(1.0)
    assert json.loads((tmp_path / "results.json").read_text())["results"] == json.loads(json.dumps(record["results"]))
    table = (tmp_path / "results.md").read_text()
    assert "NAR, SPMD (mixed + self-paced)" in table and "± " in table
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit, match="fewer than --min_seeds 3 student seeds"):
        evidence.main(
            ["tabulate", "--runs_dir", str(root / "runs"), "--output_dir", str(tmp_path), "--min_seeds", "3"]
        )


def test_a_finished_run_is_not_redone_and_changed_settings_are_refused(grid, monkeypatch):
    root, argv, result = grid

    def refuse(*arguments):
        raise AssertionError(f"a finished step ran again: {arguments}")

    for recipe in ("finetune", "distill", "train_spmd"):
        monkeypatch.setattr(pipeline.recipes, recipe, refuse)
    monkeypatch.setattr(pipeline.evaluation, "evaluate_split", refuse)
    again = evidence.main([*argv, "--seeds", "1", "--students", "nar-gold", "nar-mixed", "nar-spmd"])
    assert again["runs"] == result["runs"][:2]
    with pytest.raises(SystemExit, match="other settings"):
        evidence.main([*argv, "--seeds", "1", "--teacher_steps", "4"])
    with pytest.raises(SystemExit, match="--dataset custom needs --source_columns"):
        evidence.main(["run", "--dataset", "custom", "--data_dir", str(root / "data"), "--output_dir", str(root)])


def test_the_teacher_can_start_from_a_saved_model(grid, tmp_path):
    root, _, _ = grid
    init = root / "runs" / "wndef" / "teacher"  # a saved BANG folder with its tokenizer
    argv = ["run", "--dataset", "wndef", "--data_dir", str(root / "data"), "--output_dir", str(tmp_path), *MINIATURE]
    argv += ["--hidden_size", "24", "--vocab_size", "150"]  # ignored: the saved model's shape and tokenizer win
    result = evidence.main([*argv, "--init_model", str(init), "--seeds", "1", "--students", "nar-gold"])
    assert [run["seed"] for run in result["runs"]] == [1, 1]
    assert not (tmp_path / "wndef" / "tokenizer").exists()
    started = json.loads((init / "config.json").read_text())
    trained = json.loads((tmp_path / "wndef" / "teacher" / "config.json").read_text())
    assert trained["hidden_size"] == started["hidden_size"] == 16
    assert trained["vocab_size"] == started["vocab_size"] != 150
    with pytest.raises(SystemExit, match="not a saved model folder"):
        evidence.main([*argv, "--init_model", str(tmp_path / "nowhere"), "--output_dir", str(tmp_path / "other")])
