"""`bang-quickstart` end to end on a miniature of its defaults: a stand-in pretrained start, teacher, distillation,
two students, the table with the trivial baselines and the example outputs, the model card, resuming, and the saved
student loading with trust_remote_code."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import ModelCard
from transformers import AutoModelForSeq2SeqLM

from bang_spmd.cli import quickstart
from bang_spmd.experiments import pipeline
from bang_spmd.experiments.quickstart import QuickstartOptions
from bang_spmd.trainers import distillation
from bang_spmd.trainers.distillation import DISTILLED_HASH_COLUMN, OLD_SOURCE_HASH_COLUMN

from .helpers import save_tiny_pretrained, translation_rows


@pytest.fixture(scope="module")
def start(tmp_path_factory):
    root = tmp_path_factory.mktemp("quickstart")
    data = root / "data"
    data.mkdir()
    for split, (n, seed) in {"train": (40, 0), "validation": (6, 1), "test": (8, 2)}.items():
        rows = translation_rows(n, seed)
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    texts = [r[c] for r in translation_rows(40, 0) for c in ("en", "fr")]
    model = save_tiny_pretrained(root / "tiny-pretrained", texts)
    return root, data, model


def miniature(data: Path, model: Path) -> list[str]:
    return [
        "--data_dir", str(data), "--init_model", str(model), "--teacher_steps", "3", "--student_steps", "2",
        "--distill_samples", "24", "--eval_samples", "6", "--latency_samples", "3", "--batch_size", "8",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def run(start):
    root, data, model = start
    output_dir = root / "run"
    result = quickstart.main(["--output_dir", str(output_dir), *miniature(data, model)])
    return output_dir, result


def test_quickstart_prints_the_table_with_baselines_and_examples_and_saves_every_stage(run):
    output_dir, result = run
    names = [row["name"] for row in result["rows"]]
    assert names[:4] == ["AR teacher, greedy", "AR teacher, beam 4", "NAR baseline (gold targets)", "NAR + SPMD"]
    assert names[4] == "copy the source" and names[5].startswith("most frequent training target")
    for row in result["rows"]:
        assert row["samples"] == 6 and 0 <= row["bleu4"] <= 100 and 0 <= row["chrf"] <= 100
        assert 1 <= row["distinct_outputs"] <= 6
    assert result["rows"][5]["distinct_outputs"] == 1  # one string for every input
    assert [row["decoding_mode"] for row in result["rows"][:4]] == ["ar", "ar", "nar", "nar"]
    for row in result["rows"][:4]:  # timed on the first 3 inputs, one at a time, with the idle cores' threads
        assert row["ms_per_sample"] > 0 and row["latency_samples"] == 3 and row["timing_threads"] >= 1
    recorded = json.loads((output_dir / "results.json").read_text())
    assert recorded["rows"] == result["rows"] and recorded["examples"] == result["examples"]
    assert set(recorded["stage_seconds"]) == {"teacher", "distillation", "nar-gold", "nar-spmd", "evaluation"}
    assert {"cpu", "torch", "transformers", "tokenizers", "timing_threads", "training_threads"} <= set(
        recorded["machine"]
    )
    assert len(result["examples"]) == 5
    for example in result["examples"]:
        assert {"input", "reference", "AR teacher, beam 4", "NAR + SPMD"} <= set(example)
    table = (output_dir / "results.md").read_text()
    assert result["table"] in table and "(timing)" in table and "distinct outputs" in table and "chrF" in table
    # the task's rows only: 40 synopses (the paragraphs are left out); the students train on the distilled ones
    assert len((output_dir / "data" / "train.jsonl").read_text().splitlines()) == 40
    assert len((output_dir / "distilled" / "train.jsonl").read_text().splitlines()) == 24
    for variant in ("nar-gold", "nar-spmd"):
        assert json.loads((output_dir / variant / "eval_results.json").read_text())["global_step"] == 2
        assert not list((output_dir / variant).glob("checkpoint-*"))  # optimizer states are not published
    assert json.loads((output_dir / "teacher" / "eval_results.json").read_text())["global_step"] == 3
    commands = (output_dir / "commands.txt").read_text().splitlines()
    assert [c.split()[0] for c in commands][:4] == ["bang-finetune", "bang-distill", "bang-train", "bang-train"]


def test_the_teacher_starts_from_the_pretrained_model_and_the_students_from_the_teacher(run, start):
    output_dir, _ = run
    commands = (output_dir / "commands.txt").read_text().splitlines()
    assert f"--model_name_or_path {start[2]} " in commands[0]  # bang-finetune: the teacher
    for student in commands[2:4]:  # bang-train: the two students
        assert f"--model_name_or_path {output_dir / 'teacher'} " in student


def test_students_can_start_from_the_pretrained_model_instead(start, tmp_path):
    root, data, model = start
    output_dir = tmp_path / "from-init"
    quickstart.main(["--output_dir", str(output_dir), "--student_start", "init_model", *miniature(data, model)])
    commands = (output_dir / "commands.txt").read_text()
    assert commands.count(f"--model_name_or_path {model} ") == 3  # teacher and both students
    assert f"--model_name_or_path {output_dir / 'teacher'} " not in commands
    options = QuickstartOptions(output_dir=tmp_path / "bad", data_dir=data, init_model=str(model), student_start="x")
    with pytest.raises(SystemExit, match="--student_start must be one of"):
        options.check()


def test_the_same_command_gives_the_same_quality_numbers(run, start, tmp_path):
    _, result = run
    root, data, model = start
    again = quickstart.main(["--output_dir", str(tmp_path / "again"), *miniature(data, model)])
    quality = ("bleu4", "chrf", "distinct_outputs")
    assert [[row[k] for k in quality] for row in again["rows"]] == [
        [row[k] for k in quality] for row in result["rows"]
    ]
    assert again["examples"] == result["examples"]


def test_saved_student_loads_decodes_nar_and_has_a_card_with_its_result(run):
    output_dir, result = run
    folder = Path(result["model_dir"])
    model = AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True)
    assert model.generation_config.decoding_mode == "nar"
    card = ModelCard.load(folder / "README.md")
    assert "custom_code" in card.data.tags and "spmd" in card.data.tags
    spmd_row = result["rows"][3]
    assert [r.metric_value for r in card.data.eval_results if r.metric_type == "bleu"] == [spmd_row["bleu4"]]
    assert "NAR baseline" in card.text and "AR teacher" in card.text


def test_running_again_resumes_without_training_or_decoding(run, start, monkeypatch):
    output_dir, result = run
    _, data, model = start

    def refuse(*arguments):
        raise AssertionError(f"a finished stage ran again: {arguments}")

    for recipe in ("finetune", "distill", "train_spmd"):
        monkeypatch.setattr(pipeline.recipes, recipe, refuse)
    monkeypatch.setattr(pipeline.evaluation, "evaluate_split", refuse)
    again = quickstart.main(["--output_dir", str(output_dir), *miniature(data, model), "--hub_model_id", "someone/qs"])
    assert again["rows"] == result["rows"]
    assert "someone/qs" in (Path(again["model_dir"]) / "README.md").read_text()  # the card names the new repo


def test_a_distilled_file_of_an_earlier_version_is_written_again_from_the_cache(run, start, monkeypatch):
    output_dir, _ = run
    _, data, model = start
    distilled = output_dir / "distilled" / "train.jsonl"
    current = distilled.read_text(encoding="utf-8")
    earlier = []  # as the previous bang-distill wrote it: the hash of the source alone, which training refuses
    for line in current.splitlines():
        row = {k: v for k, v in json.loads(line).items() if k != DISTILLED_HASH_COLUMN}
        earlier.append(json.dumps({**row, OLD_SOURCE_HASH_COLUMN: "0" * 64}, ensure_ascii=False) + "\n")
    distilled.write_text("".join(earlier), encoding="utf-8")

    def refuse(*arguments):
        raise AssertionError(f"a finished stage ran again: {arguments}")

    monkeypatch.setattr(distillation, "_decode_batches", refuse)  # the cache holds every target
    for recipe in ("finetune", "train_spmd"):
        monkeypatch.setattr(pipeline.recipes, recipe, refuse)
    monkeypatch.setattr(pipeline.evaluation, "evaluate_split", refuse)
    quickstart.main(["--output_dir", str(output_dir), *miniature(data, model)])
    assert distilled.read_text(encoding="utf-8") == current


def test_changed_settings_or_a_foreign_folder_are_refused(run, start, tmp_path):
    output_dir, _ = run
    _, data, model = start
    with pytest.raises(SystemExit, match="student_steps"):
        quickstart.main(["--output_dir", str(output_dir), *miniature(data, model), "--student_steps", "3"])
    (tmp_path / "other.txt").write_text("not a run")
    with pytest.raises(SystemExit, match="--overwrite"):
        quickstart.main(["--output_dir", str(tmp_path), *miniature(data, model)])
    with pytest.raises(SystemExit, match="--teacher_steps must be at least 1"):
        quickstart.main(["--output_dir", str(tmp_path / "new"), "--teacher_steps", "0"])
    with pytest.raises(SystemExit, match="lacks train.jsonl"):
        quickstart.main(["--output_dir", str(tmp_path / "new"), "--data_dir", str(tmp_path)])
    with pytest.raises(SystemExit, match="no embedded sample"):
        quickstart.main(["--output_dir", str(tmp_path / "new"), "--task", "wndef"])


def test_console_command_help():
    command = Path(sys.executable).parent / "bang-quickstart"
    result = subprocess.run([str(command), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--teacher_steps" in result.stdout and "debtrans" in result.stdout
