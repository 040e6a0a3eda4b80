"""Distillation data (`bang_spmd.trainers.distillation`, `bang-distill`): columns, cache, resuming, vocabularies."""

import importlib.util
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import datasets
import pytest
import torch

from bang_spmd.trainers import distillation
from bang_spmd.trainers.distillation import (
    DISTILLED_COLUMNS,
    DISTILLED_HASH_COLUMN,
    DistillationConfig,
    distill_dataset,
    distillation_cache_key,
    distilled_sha256,
    labels_from_sequences,
)

from .helpers import free_port, tiny_model, tiny_tokenizer


REPO_ROOT = Path(__file__).resolve().parent.parent
SEP, PAD = 2, 0
SETTINGS = {"num_distilled": 2, "num_beams": 3, "max_new_tokens": 6, "batch_size": 4}


def teacher_model():
    """Weights large enough that the outputs depend on the input."""
    return tiny_model(init_std=0.3)


def tiny_rows(n: int = 10) -> datasets.Dataset:
    """`word`, `example`, `definition` columns of integer words (the tiny tokenizer's tokens), varied lengths."""
    generator = torch.Generator().manual_seed(3)

    def words(length: int) -> str:
        return " ".join(str(i) for i in torch.randint(5, 99, (length,), generator=generator).tolist())

    return datasets.Dataset.from_dict(
        {
            "id": [f"row{i}" for i in range(n)],
            "word": [words(1) for _ in range(n)],
            "example": [words(2 + i % 5) for i in range(n)],
            "definition": [words(3) for _ in range(n)],
        }
    )


def config(**overrides) -> DistillationConfig:
    settings = {"source_columns": ["word", "example"], "target_column": "definition", **SETTINGS}
    return DistillationConfig(**{**settings, **overrides})


def reversed_tokenizer():
    """Same tokens as `tiny_tokenizer()`, other ids: a student vocabulary that differs from the teacher's."""
    return tiny_tokenizer([str(i) for i in reversed(range(5, 99))])


def test_columns_types_and_equality_with_the_teachers_own_generate(tmp_path):
    teacher, tokenizer, rows = teacher_model(), tiny_tokenizer(), tiny_rows()
    result = distill_dataset(rows, teacher, tokenizer, config(), tmp_path, show_progress=False)

    assert result.column_names == [*rows.column_names, *DISTILLED_COLUMNS, DISTILLED_HASH_COLUMN]
    assert result[DISTILLED_HASH_COLUMN] == [
        distilled_sha256([row["word"], row["example"]], row["distilled_labels"]) for row in result
    ]
    assert result.select_columns(rows.column_names).to_list() == rows.to_list()
    assert result.features["distilled_labels"] == datasets.List(datasets.List(datasets.Value("int64")))
    for row in result:
        assert [len(row[c]) for c in DISTILLED_COLUMNS] == [2, 2, 2]
        assert all(isinstance(t, str) for t in row["distilled_texts"])
        assert all(isinstance(s, float) for s in row["distilled_scores"])
        assert row["distilled_scores"][0] >= row["distilled_scores"][1]  # best beam first
        for labels, text in zip(row["distilled_labels"], row["distilled_texts"], strict=True):
            assert labels[-1] == SEP and SEP not in labels[:-1] and PAD not in labels
            assert 1 <= len(labels) <= SETTINGS["max_new_tokens"] + 1
            assert text == tokenizer.decode(labels, skip_special_tokens=True)

    # The same batches decoded by hand: the labels are the generated ids, the scores the beam scores.
    for start in range(0, len(rows), SETTINGS["batch_size"]):
        batch = rows[start : start + SETTINGS["batch_size"]]
        inputs = tokenizer(batch["word"], batch["example"], padding=True, return_tensors="pt")
        with torch.no_grad():
            out = teacher.generate(
                inputs.input_ids,
                attention_mask=inputs.attention_mask,
                num_beams=3,
                num_return_sequences=2,
                max_new_tokens=6,
                length_penalty=1.0,
                early_stopping=True,
                return_dict_in_generate=True,
                output_scores=True,
            )
        for offset in range(len(batch["word"])):
            row = result[start + offset]
            for k in range(2):
                generated = out.sequences[2 * offset + k, 1:].tolist()
                labels = row["distilled_labels"][k]
                if SEP in generated:  # ended by the teacher, then padded
                    assert generated[: len(labels)] == labels and set(generated[len(labels) :]) <= {PAD}
                else:  # ran out of max_new_tokens: [SEP] appended
                    assert generated == labels[:-1]
                assert row["distilled_scores"][k] == pytest.approx(out.sequences_scores[2 * offset + k].item())


def test_labels_are_cut_after_the_first_end_token_and_always_end_with_it():
    sequences = torch.tensor(
        [
            [SEP, 7, 8, SEP, PAD, PAD],  # ended and padded
            [SEP, 7, 8, 9, 10, 11],  # ran out of length
            [SEP, SEP, PAD, PAD, PAD, PAD],  # empty
            [SEP, 7, SEP, 9, SEP, PAD],  # only the first end counts
        ]
    )
    assert labels_from_sequences(sequences, [SEP]) == [[7, 8, SEP], [7, 8, 9, 10, 11, SEP], [SEP], [7, SEP]]
    assert labels_from_sequences(sequences, [11, SEP])[1] == [7, 8, 9, 10, 11]


def test_greedy_scores_are_the_mean_log_probability_of_the_generated_tokens(tmp_path):
    teacher, tokenizer, rows = teacher_model(), tiny_tokenizer(), tiny_rows(4)
    greedy = config(num_distilled=1, num_beams=1)
    result = distill_dataset(rows, teacher, tokenizer, greedy, tmp_path, show_progress=False)
    for row in result:
        labels = row["distilled_labels"][0]
        generated = labels if len(labels) <= greedy.max_new_tokens else labels[:-1]  # the appended [SEP] is not
        inputs = tokenizer(row["word"], row["example"], return_tensors="pt")
        with torch.no_grad():
            logits = teacher(**inputs, labels=torch.tensor([generated]), mode="ar").logits
        log_probs = logits.log_softmax(-1)[0, torch.arange(len(generated)), generated]
        assert row["distilled_scores"][0] == pytest.approx(log_probs.mean().item(), abs=1e-5)


def test_a_second_call_reads_the_cache_without_generating(tmp_path, monkeypatch):
    teacher, tokenizer, rows = teacher_model(), tiny_tokenizer(), tiny_rows()
    first = distill_dataset(rows, teacher, tokenizer, config(), tmp_path, show_progress=False)
    key = distillation_cache_key(rows, teacher, tokenizer, config())
    assert sorted(p.name for p in (tmp_path / key).iterdir()) == ["distilled.jsonl", "meta.json"]
    assert json.loads((tmp_path / key / "meta.json").read_text())["num_rows"] == len(rows)

    def refuse(*args, **kwargs):
        raise AssertionError("generate must not be called on a complete cache")

    monkeypatch.setattr(teacher, "generate", refuse)
    second = distill_dataset(rows, teacher, tokenizer, config(), tmp_path, show_progress=False)
    assert second.to_list() == first.to_list()
    assert second._fingerprint == first._fingerprint
    # Anything that changes the outputs changes the key: the weights, the settings, the sources.
    weight = teacher.lm_head.weight.data
    original = weight[5, 0].item()
    weight[5, 0] += 1e-3
    assert distillation_cache_key(rows, teacher, tokenizer, config()) != key
    weight[5, 0] = original
    assert distillation_cache_key(rows, teacher, tokenizer, config()) == key
    assert distillation_cache_key(rows, teacher, tokenizer, config(length_penalty=1.2)) != key
    shuffled = rows.select([1, 0, *range(2, len(rows))])
    assert distillation_cache_key(shuffled, teacher, tokenizer, config()) != key
    assert distillation_cache_key(rows.remove_columns("id"), teacher, tokenizer, config()) == key


def test_an_interrupted_run_resumes_to_exactly_the_uninterrupted_rows(tmp_path, monkeypatch):
    teacher, tokenizer, rows = teacher_model(), tiny_tokenizer(), tiny_rows()
    expected = distill_dataset(rows, teacher, tokenizer, config(), tmp_path / "straight", show_progress=False)

    real_generate = teacher.generate
    calls = []

    def fail_after_two(input_ids, **kwargs):
        if len(calls) == 2:
            raise RuntimeError("interrupted")
        return counted(input_ids, **kwargs)

    def counted(input_ids, **kwargs):
        calls.append(input_ids.shape[0])
        return real_generate(input_ids, **kwargs)

    monkeypatch.setattr(teacher, "generate", fail_after_two)
    with pytest.raises(RuntimeError, match="interrupted"):
        distill_dataset(rows, teacher, tokenizer, config(), tmp_path / "resumed", show_progress=False)
    key = distillation_cache_key(rows, teacher, tokenizer, config())
    parts = sorted(p.name for p in (tmp_path / "resumed" / key / "parts").iterdir())
    assert parts == ["rows-000000000-000000004.jsonl", "rows-000000004-000000008.jsonl"]

    calls.clear()
    monkeypatch.setattr(teacher, "generate", counted)
    resumed = distill_dataset(rows, teacher, tokenizer, config(), tmp_path / "resumed", show_progress=False)
    assert calls == [2]  # only the last batch (rows 8-9) was decoded again
    assert resumed.to_list() == expected.to_list()
    assert not (tmp_path / "resumed" / key / "parts").exists()


def test_a_cache_with_a_duplicated_or_missing_row_is_refused(tmp_path, monkeypatch):
    teacher, tokenizer, rows = teacher_model(), tiny_tokenizer(), tiny_rows(6)

    def refuse(*args, **kwargs):
        raise AssertionError("every batch has a part: nothing is decoded")

    monkeypatch.setattr(teacher, "generate", refuse)
    key = distillation_cache_key(rows, teacher, tokenizer, config())
    parts = tmp_path / key / "parts"
    parts.mkdir(parents=True)
    record = {"distilled_texts": ["5", "6"], "distilled_labels": [[5, SEP], [6, SEP]], "distilled_scores": [-1, -2]}
    good = [{"row": i, **record} for i in range(4)]
    (parts / "rows-000000000-000000004.jsonl").write_text("".join(json.dumps(r) + "\n" for r in good))
    bad = [{"row": 4, **record}, {"row": 4, **record}]
    (parts / "rows-000000004-000000006.jsonl").write_text("".join(json.dumps(r) + "\n" for r in bad))
    with pytest.raises(RuntimeError, match=r"1 missing \(e\.g\. \[5\]\); 1 duplicated"):
        distill_dataset(rows, teacher, tokenizer, config(), tmp_path, show_progress=False)


def test_vocabularies_must_match_unless_the_texts_are_retokenized(tmp_path):
    teacher, tokenizer, rows = teacher_model(), tiny_tokenizer(), tiny_rows(4)
    student = reversed_tokenizer()
    with pytest.raises(ValueError, match="retokenize"):
        distill_dataset(rows, teacher, tokenizer, config(), tmp_path, student_tokenizer=student, show_progress=False)

    result = distill_dataset(
        rows, teacher, tokenizer, config(retokenize=True), tmp_path, student_tokenizer=student, show_progress=False
    )
    shared = distill_dataset(rows, teacher, tokenizer, config(), tmp_path, show_progress=False)
    for row, same in zip(result, shared, strict=True):
        assert row["distilled_texts"] == same["distilled_texts"]
        assert row["distilled_labels"] == student(row["distilled_texts"]).input_ids
        assert row["distilled_labels"] != same["distilled_labels"]
    # A student tokenizer with the teacher's vocabulary needs no re-tokenization: the generated ids are kept.
    same_vocab = distill_dataset(
        rows, teacher, tokenizer, config(), tmp_path, student_tokenizer=tiny_tokenizer(), show_progress=False
    )
    assert same_vocab["distilled_labels"] == shared["distilled_labels"]


def test_empty_targets_are_kept_as_sep_and_counted(tmp_path, monkeypatch, caplog):
    teacher, tokenizer, rows = teacher_model(), tiny_tokenizer(), tiny_rows(2)

    def first_beam_empty(input_ids, **kwargs):
        n = input_ids.shape[0]
        sequences = torch.tensor([[SEP, SEP, PAD], [SEP, 7, SEP]]).repeat(n, 1)
        return SimpleNamespace(sequences=sequences, sequences_scores=torch.tensor([-1.0, -2.0]).repeat(n))

    monkeypatch.setattr(teacher, "generate", first_beam_empty)
    with caplog.at_level(logging.WARNING, logger="bang_spmd.trainers.distillation"):
        result = distill_dataset(rows, teacher, tokenizer, config(), tmp_path, show_progress=False)
    assert result["distilled_labels"] == [[[SEP], [7, SEP]]] * 2
    assert result["distilled_texts"] == [["", "7"]] * 2
    assert "2 distilled targets of 2 examples are empty" in caplog.text


@pytest.mark.parametrize(
    "overrides, name",
    [
        ({"source_columns": "word"}, "source_columns"),
        ({"source_columns": []}, "source_columns"),
        ({"target_column": ""}, "target_column"),
        ({"num_distilled": 0}, "num_distilled"),
        ({"num_beams": 1, "num_distilled": 2}, "num_beams"),
        ({"num_beams": 2.0}, "num_beams"),
        ({"length_penalty": float("nan")}, "length_penalty"),
        ({"max_source_length": 0}, "max_source_length"),
        ({"max_new_tokens": -1}, "max_new_tokens"),
        ({"batch_size": True}, "batch_size"),
        ({"retokenize": "yes"}, "retokenize"),
    ],
)
def test_invalid_settings_name_the_field(overrides, name):
    settings = {"source_columns": ["word", "example"], "target_column": "definition", **overrides}
    with pytest.raises(ValueError, match=f"`{name}`"):
        DistillationConfig(**settings)


def test_missing_columns_are_named_with_the_available_ones(tmp_path):
    teacher, tokenizer, rows = teacher_model(), tiny_tokenizer(), tiny_rows(2)
    for bad, column in ((config(source_columns=["word", "usage"]), "usage"), (config(target_column="gloss"), "gloss")):
        with pytest.raises(ValueError, match=rf"\['{column}'\] are not in the data set \(columns: \['id', 'word'"):
            distill_dataset(rows, teacher, tokenizer, bad, tmp_path, show_progress=False)


BAD_VALUES = [  # (changed values of row 2, message)
    ({"word": None}, r"dataset\[2\]: column 'word' must be a string, got null"),
    ({"word": "  "}, r"dataset\[2\]: column 'word' is empty"),
    ({"example": None}, r"dataset\[2\]: column 'example' must be a string, got null"),
    ({"definition": ""}, r"dataset\[2\]: column 'definition' is empty"),
    ({"word": "[CLS]", "example": ""}, r"dataset\[2\]: the source holds no text once tokenized \(its tokens: \[CLS\]"),
]
BAD_COLUMNS = [  # (a column of another type than strings, message naming its first row)
    ({"word": [17] * 4}, r"dataset\[0\]: column 'word' must be a string, got int 17"),
    ({"example": [["a", "b"]] * 4}, r"dataset\[0\]: column 'example' must be a string, got list \['a', 'b'\]"),
    ({"definition": [3.5] * 4}, r"dataset\[0\]: column 'definition' must be a string, got float 3.5"),
]


def rows_with(change: dict, column_change: dict | None = None) -> datasets.Dataset:
    rows = tiny_rows(4).to_dict()
    for column, value in change.items():
        rows[column][2] = value
    return datasets.Dataset.from_dict({**rows, **(column_change or {})})


@pytest.mark.parametrize(
    "change, columns, message",
    [(change, None, message) for change, message in BAD_VALUES]
    + [({}, columns, message) for columns, message in BAD_COLUMNS],
    ids=range(len(BAD_VALUES) + len(BAD_COLUMNS)),
)
def test_source_and_target_values_are_checked_before_anything_is_decoded(tmp_path, monkeypatch, change, columns,
                                                                          message):  # fmt: skip
    teacher = teacher_model()

    def no_generate(*args, **kwargs):
        raise AssertionError("decoded before the data were checked")

    monkeypatch.setattr(teacher, "generate", no_generate)
    with pytest.raises(ValueError, match=message):
        distill_dataset(rows_with(change, columns), teacher, tiny_tokenizer(), config(), tmp_path, show_progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_text_pair_may_be_empty(tmp_path):
    rows = datasets.Dataset.from_list([{**row, "example": ""} for row in tiny_rows(2).to_list()])
    result = distill_dataset(rows, teacher_model(), tiny_tokenizer(), config(), tmp_path, show_progress=False)
    assert len(result) == 2


# ---------------------------------------------------------------------------------------------------------------
# The command-line script
# ---------------------------------------------------------------------------------------------------------------


def load_script():
    return importlib.import_module("bang_spmd.cli.distill")


@pytest.fixture
def saved_teacher(tmp_path):
    folder = tmp_path / "teacher"
    teacher_model().save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in tiny_rows(6)))
    return folder, data


def cli_args(folder, data, output, cache) -> list[str]:
    return [
        "--teacher", str(folder), "--data_file", str(data), "--output_file", str(output), "--cache_dir", str(cache),
        "--source_columns", "word,example", "--target_column", "definition", "--num_distilled", "2",
        "--num_beams", "3", "--max_new_tokens", "6", "--batch_size", "4", "--disable_progress",
    ]  # fmt: skip


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def distilled_directly(data: Path, tmp_path: Path) -> list[dict]:
    rows = datasets.Dataset.from_list(read_jsonl(data))
    return distill_dataset(
        rows, teacher_model(), tiny_tokenizer(), config(), tmp_path / "direct", show_progress=False
    ).to_list()


def test_script_end_to_end_writes_the_distilled_rows_and_reuses_its_cache(
    tmp_path, saved_teacher, monkeypatch, capsys
):
    folder, data = saved_teacher
    script = load_script()
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "datasets-cache"))
    output = tmp_path / "out" / "distilled.jsonl"
    args = cli_args(folder, data, output, tmp_path / "cache")

    summary = script.main(args)
    assert "Wrote 6 rows" in capsys.readouterr().out and summary["rows"] == 6
    assert read_jsonl(output) == distilled_directly(data, tmp_path)  # every input column kept, rows in order

    def refuse(*args, **kwargs):
        raise AssertionError("the second run must read the cache")

    with monkeypatch.context() as patch:
        patch.setattr(distillation, "_distill_batch", refuse)
        first = output.read_text()
        output.write_text("")
        script.main([*args, "--overwrite"])
        assert output.read_text() == first
    script.main([*args, "--overwrite", "--max_samples", "3"])
    assert [{k: row[k] for k in ("id", "word")} for row in read_jsonl(output)] == [
        {k: row[k] for k in ("id", "word")} for row in read_jsonl(data)[:3]
    ]


def test_script_under_accelerate_launch_shares_the_batches_between_two_processes(tmp_path, saved_teacher):
    folder, _ = saved_teacher
    data = tmp_path / "train10.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in tiny_rows(10)))  # batches of 4: 2 for rank 0, 1 for 1
    output = tmp_path / "distilled.jsonl"
    launcher = [
        str(Path(sys.executable).parent / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()), "-m", "bang_spmd.cli.distill",
    ]  # fmt: skip
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_CACHE": str(tmp_path / "datasets-cache"),
        "ACCELERATE_USE_CPU": "1",  # without it, accelerate treats CPU processes as independent single runs
        "OMP_NUM_THREADS": "1",
    }
    command = [*launcher, *cli_args(folder, data, output, tmp_path / "cache")]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    written, expected = read_jsonl(output), distilled_directly(data, tmp_path)
    scores = "distilled_scores"
    assert [{k: v for k, v in row.items() if k != scores} for row in written] == [
        {k: v for k, v in row.items() if k != scores} for row in expected
    ]
    # One thread per process changes the order of float reductions, not the outputs.
    for row, direct in zip(written, expected, strict=True):
        assert row[scores] == pytest.approx(direct[scores], abs=1e-5)


def test_a_distributed_run_without_its_accelerator_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="ACCELERATE_USE_CPU"):
        distill_dataset(tiny_rows(2), teacher_model(), tiny_tokenizer(), config(), tmp_path, show_progress=False)


def test_script_errors_name_the_problem(tmp_path, saved_teacher, monkeypatch, capsys):
    folder, data = saved_teacher
    script = load_script()
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "datasets-cache"))
    args = cli_args(folder, data, tmp_path / "out.jsonl", tmp_path / "cache")

    with pytest.raises(SystemExit) as exit_info:
        script.main(["--help"])
    assert exit_info.value.code == 0 and "--retokenize" in capsys.readouterr().out
    with pytest.raises(ValueError, match="does not exist"):
        script.main([*args, "--data_file", str(tmp_path / "missing.jsonl")])
    with pytest.raises(ValueError, match=r"train.jsonl:1: no column\(s\) \['usage'\] \(the row has \['definition'"):
        script.main([*args, "--source_columns", "word,usage"])
    with pytest.raises(ValueError, match="--teacher .*nowhere does not exist"):
        script.main([*args, "--teacher", str(tmp_path / "nowhere")])
    with pytest.raises(ValueError, match="`num_beams`"):
        script.main([*args, "--num_beams", "1"])
    (tmp_path / "out.jsonl").write_text("keep me\n")
    with pytest.raises(ValueError, match="--overwrite"):
        script.main(args)
    assert (tmp_path / "out.jsonl").read_text() == "keep me\n"
