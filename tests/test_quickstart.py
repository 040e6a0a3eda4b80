"""`bang-quickstart` end to end on a miniature of its defaults: teacher, distillation, two students, the table, the
model card, resuming, and the saved student loading with trust_remote_code."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import ModelCard
from transformers import AutoModelForSeq2SeqLM

from bang_spmd.cli import quickstart
from bang_spmd.experiments import pipeline


MINIATURE = [
    "--max_train_samples", "48", "--eval_samples", "6", "--teacher_steps", "3", "--student_steps", "2",
    "--hidden_size", "16", "--layers", "1", "--attention_heads", "2", "--ffn_dim", "32", "--vocab_size", "200",
    "--batch_size", "8",
]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("quickstart") / "run"
    result = quickstart.main(["--output_dir", str(output_dir), *MINIATURE])
    return output_dir, result


def test_quickstart_prints_the_table_and_saves_every_stage(run, capsys):
    output_dir, result = run
    names = [row["name"] for row in result["rows"]]
    assert names == ["AR teacher, greedy", "AR teacher, beam 4", "NAR baseline (gold targets)", "NAR + SPMD"]
    for row in result["rows"]:
        assert row["samples"] == 6 and row["ms_per_sample"] > 0 and 0 <= row["rougeL_f1"] <= 100
    assert [row["decoding_mode"] for row in result["rows"]] == ["ar", "ar", "nar", "nar"]
    assert [row.get("num_beams") for row in result["rows"][:2]] == [1, 4]
    assert json.loads((output_dir / "results.json").read_text()) == result["rows"]
    table = (output_dir / "results.md").read_text()
    assert table.strip() == result["table"] and table.count("\n") == 6 and "speed-up vs AR beam 4" in table
    assert len((output_dir / "distilled" / "train.jsonl").read_text().splitlines()) == 48
    for variant in ("nar-gold", "nar-spmd"):
        assert json.loads((output_dir / variant / "eval_results.json").read_text())["global_step"] == 2
    assert json.loads((output_dir / "teacher" / "eval_results.json").read_text())["global_step"] == 3


def test_saved_student_loads_decodes_nar_and_has_a_card_with_its_result(run):
    output_dir, result = run
    folder = Path(result["model_dir"])
    model = AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True)
    assert model.generation_config.decoding_mode == "nar"
    card = ModelCard.load(folder / "README.md")
    assert "custom_code" in card.data.tags and "spmd" in card.data.tags
    spmd_row = result["rows"][-1]
    assert [r.metric_value for r in card.data.eval_results if r.metric_name.startswith("ROUGE-L")] == [
        spmd_row["rougeL_f1"]
    ]
    assert "NAR baseline" in card.text and "AR teacher" in card.text


def test_running_again_resumes_without_training_or_decoding(run, monkeypatch):
    output_dir, result = run

    def refuse(*arguments):
        raise AssertionError(f"a finished stage ran again: {arguments}")

    for recipe in ("finetune", "distill", "train_spmd"):
        monkeypatch.setattr(pipeline.recipes, recipe, refuse)
    monkeypatch.setattr(pipeline.evaluation, "evaluate_split", refuse)
    again = quickstart.main(["--output_dir", str(output_dir), *MINIATURE, "--hub_model_id", "someone/bang-qs"])
    assert again["rows"] == result["rows"]
    assert "someone/bang-qs" in (Path(again["model_dir"]) / "README.md").read_text()  # the card names the new repo


def test_changed_settings_or_a_foreign_folder_are_refused(run, tmp_path):
    output_dir, _ = run
    with pytest.raises(SystemExit, match="student_steps"):
        quickstart.main(
            ["--output_dir", str(output_dir), *MINIATURE[:-2], "--batch_size", "8", "--student_steps", "3"]
        )
    (tmp_path / "other.txt").write_text("not a run")
    with pytest.raises(SystemExit, match="--overwrite"):
        quickstart.main(["--output_dir", str(tmp_path), *MINIATURE])
    with pytest.raises(SystemExit, match="--teacher_steps must be at least 1"):
        quickstart.main(["--output_dir", str(tmp_path / "new"), "--teacher_steps", "0"])
    with pytest.raises(SystemExit, match="lacks train.jsonl"):
        quickstart.main(["--output_dir", str(tmp_path / "new"), "--data_dir", str(tmp_path)])


def test_console_command_help():
    command = Path(sys.executable).parent / "bang-quickstart"
    result = subprocess.run([str(command), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--teacher_steps" in result.stdout and "debsum" in result.stdout
