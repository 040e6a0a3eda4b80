"""BANG pretraining: span-masking collator, n-stream loss through the Trainer, logging, and the example scripts."""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import torch
from transformers import HfArgumentParser, TrainingArguments

from bang_spmd.recipes import DataArguments, FinetuneModelArguments
from bang_spmd.trainers.pretraining import (
    BangPretrainingTrainer,
    BangSpanMaskingCollator,
    chunk_token_ids,
    mask_spans_for_dataset,
)
from bang_spmd.trainers.seq2seq_data import Seq2SeqCollator, encode_pairs
from modeling_bang import BangForConditionalGeneration
from modeling_bang.modeling_bang import build_stream_labels

from .helpers import tiny_config, tiny_model


REPO_ROOT = Path(__file__).resolve().parent.parent
PAD, CLS, SEP, MASK = 0, 1, 2, 3
VOCAB = 99  # the tiny config's


def make_collator(**overrides) -> BangSpanMaskingCollator:
    settings = {"mask_token_id": MASK, "pad_token_id": PAD, "vocab_size": VOCAB, "special_token_ids": (CLS, SEP)}
    return BangSpanMaskingCollator(**{**settings, **overrides})


def make_source(length: int, seed: int) -> list[int]:
    """`length` tokens, the last one [SEP], the others ordinary ids."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(4, VOCAB, (length - 1,), generator=generator).tolist() + [SEP]


def spans_of(batch: dict[str, torch.Tensor], row: int) -> list[list[int]]:
    """The masked 1-based target positions of one row, grouped by span (target_span_index restarts at 0)."""
    spans: list[list[int]] = []
    for t in range(batch["labels"].shape[1]):
        if batch["labels"][row, t] == -100:
            continue
        position = int(batch["decoder_position_ids"][row, t]) + 1
        if batch["target_span_index"][row, t] == 0:
            spans.append([])
        spans[-1].append(position)
    return spans


# ---------------------------------------------------------------------------------------------------------------
# Collator
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [3, 5, 10, 63, 64, 65, 66, 129, 200, 640])
def test_one_span_per_block_with_the_official_length(length):
    collator = make_collator()
    for idx in range(5):
        batch = collator([{"input_ids": make_source(length, idx), "idx": idx}])
        spans = spans_of(batch, 0)
        expected_blocks = []
        for start in range(0, length, 64):
            block_len = min(64, length - start)
            span_len = max(1, math.floor(0.15 * block_len + 1e-9))
            allowed = range(max(start + 1, 2), min(start + block_len, length - 1) + 1)
            if len(allowed) >= span_len:
                expected_blocks.append((allowed, span_len))
        assert len(spans) == len(expected_blocks)
        for span, (allowed, span_len) in zip(spans, expected_blocks, strict=True):
            assert len(span) == span_len
            assert span == list(range(span[0], span[0] + span_len))  # contiguous
            assert span[0] in allowed and span[-1] in allowed
            assert 1 not in span and length not in span  # first token and final [SEP] never masked


def test_masked_ratio_and_official_span_length():
    collator = make_collator()
    assert collator.span_length(64) == 9  # int(64 * 0.15) in the official masked_dataset.py
    assert collator.span_length(20) == 3 and collator.span_length(3) == 1
    batch = collator([{"input_ids": make_source(640, 0)}])
    assert int(batch["labels"].ne(-100).sum()) == 90  # 10 blocks x 9 tokens = 14.06 %


def test_replacement_proportions_80_10_10():
    collator = make_collator(seed=123)
    counts = {"mask": 0, "random": 0, "kept": 0}
    for idx in range(400):
        source = make_source(384, idx)
        out = collator.mask_example(source, idx)
        for position in (p + 1 for p in out["decoder_position_ids"]):
            new, old = out["input_ids"][position - 1], source[position - 1]
            if new == MASK:
                counts["mask"] += 1
            elif new == old:
                counts["kept"] += 1
            else:
                assert new not in (PAD, CLS, SEP, MASK)
                counts["random"] += 1
    total = sum(counts.values())
    assert total == 400 * 6 * 9  # 21,600 span tokens
    assert abs(counts["mask"] / total - 0.8) < 0.02
    assert abs(counts["random"] / total - 0.1 * 94 / 95) < 0.02  # a random draw equal to the original counts as kept
    assert abs(counts["kept"] / total - (0.1 + 0.1 / 95)) < 0.02


def test_columns_match_the_original_tokens_and_padding_is_consistent():
    collator = make_collator()
    sources = [make_source(n, n) for n in (150, 12, 70, 2)]
    batch = collator([{"input_ids": s, "idx": i} for i, s in enumerate(sources)])
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (4, 150)
    target_shape = batch["labels"].shape
    for name in ("decoder_input_ids", "decoder_position_ids", "target_span_index"):
        assert batch[name].shape == target_shape and batch[name].dtype == torch.long
    for row, source in enumerate(sources):
        n = len(source)
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (150 - n)
        assert batch["input_ids"][row, n:].eq(PAD).all()
        real = batch["labels"][row].ne(-100)
        count = int(real.sum())
        assert real.tolist() == [True] * count + [False] * (target_shape[1] - count)  # padding at the end
        masked_positions = set()
        for t in range(count):
            position = int(batch["decoder_position_ids"][row, t])  # 1-based position of the decoder input
            assert batch["decoder_input_ids"][row, t] == source[position - 1]
            assert batch["labels"][row, t] == source[position]  # the target sits at position + 1
            masked_positions.add(position)  # 0-based index of the target
        span_index = batch["target_span_index"][row, :count].tolist()
        for t, k in enumerate(span_index):  # 0..L-1 per span
            assert k == 0 or span_index[t - 1] == k - 1
        unchanged = [i for i in range(n) if i not in masked_positions]
        assert all(batch["input_ids"][row, i] == source[i] for i in unchanged)
        assert batch["input_ids"][row, 0] == source[0] and batch["input_ids"][row, n - 1] == SEP
        pad = ~real
        assert batch["decoder_input_ids"][row][pad].eq(PAD).all()
        assert batch["decoder_position_ids"][row][pad].eq(1).all()
        assert batch["target_span_index"][row][pad].eq(0).all()
    assert int(batch["labels"][3].ne(-100).sum()) == 0  # two tokens: nothing can be masked


def test_batch_without_any_span_gives_one_padding_position_and_zero_loss():
    batch = make_collator()([{"input_ids": [5, SEP]}, {"input_ids": [SEP]}])
    assert batch["labels"].tolist() == [[-100], [-100]]
    loss = tiny_model()(**batch, mode="ngram").loss
    assert loss.item() == 0.0


def test_determinism_and_seeding():
    sources = [make_source(100, i) for i in range(3)]
    examples = [{"input_ids": s, "idx": i} for i, s in enumerate(sources)]
    first, again = make_collator(seed=1)(examples), make_collator(seed=1)(examples)
    assert all(torch.equal(first[k], again[k]) for k in first)
    other = make_collator(seed=2)(examples)
    assert not torch.equal(first["decoder_position_ids"], other["decoder_position_ids"])
    # An example's masking does not depend on the batch it is in.
    alone = make_collator(seed=1)([examples[1]])
    width = alone["labels"].shape[1]
    assert torch.equal(alone["labels"][0], first["labels"][1, :width])
    assert torch.equal(alone["input_ids"][0], first["input_ids"][1])
    # A new epoch gives new masks; without `idx` the token ids seed the example.
    later = make_collator(seed=1, epoch=1)(examples)
    assert not torch.equal(first["decoder_position_ids"], later["decoder_position_ids"])
    no_idx = make_collator(seed=1)([{"input_ids": s} for s in sources])
    assert torch.equal(no_idx["labels"], make_collator(seed=1)([{"input_ids": s} for s in sources])["labels"])


def test_precomputed_masking_equals_on_the_fly():
    collator = make_collator(seed=7)
    sources = [make_source(n, n) for n in (30, 90, 140, 4, 65)]
    dataset = datasets.Dataset.from_dict({"input_ids": sources, "idx": list(range(len(sources)))})
    masked = dataset.map(mask_spans_for_dataset, batched=True, batch_size=2, fn_kwargs={"collator": collator})
    on_the_fly = collator([dataset[i] for i in range(len(dataset))])
    precomputed = collator([masked[i] for i in range(len(masked))])
    assert all(torch.equal(on_the_fly[k], precomputed[k]) for k in on_the_fly)


def test_invalid_inputs_raise_value_errors():
    collator = make_collator()
    with pytest.raises(ValueError, match="input_ids"):
        collator([{"text": "no ids"}])
    with pytest.raises(ValueError, match="empty"):
        collator([{"input_ids": []}])
    with pytest.raises(ValueError, match="idx"):
        collator([{"input_ids": [5, 6, SEP], "idx": "7"}])
    with pytest.raises(ValueError, match="mask_ratio"):
        make_collator(mask_ratio=0.0)
    with pytest.raises(ValueError, match="mask_prob"):
        make_collator(mask_prob=0.95, random_prob=0.1)
    with pytest.raises(ValueError, match="random_prob"):
        make_collator(random_prob=-0.1)
    with pytest.raises(ValueError, match="block_size"):
        make_collator(block_size=0)
    with pytest.raises(ValueError, match="mask_token_id"):
        make_collator(mask_token_id=VOCAB)
    with pytest.raises(ValueError, match="input_ids"):
        mask_spans_for_dataset({"text": ["a"]}, collator)


# ---------------------------------------------------------------------------------------------------------------
# Loss and trainer
# ---------------------------------------------------------------------------------------------------------------


def tiny_trainer(tmp_path, model, train_dataset=None, eval_dataset=None, **overrides) -> BangPretrainingTrainer:
    settings = {
        "output_dir": str(tmp_path),
        "report_to": [],
        "use_cpu": True,
        "save_strategy": "no",
        "disable_tqdm": True,
        "per_device_train_batch_size": 2,
        "per_device_eval_batch_size": 2,
        "logging_steps": 1,
        "learning_rate": 1e-3,
    }
    args = TrainingArguments(**{**settings, **overrides})
    return BangPretrainingTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=make_collator(),
    )


def pretraining_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    """Three examples within the tiny model's 64 positions; 16-token blocks give several spans per example."""
    collator = make_collator(seed=seed, block_size=16, mask_ratio=0.25)
    return collator([{"input_ids": make_source(n, n), "idx": n} for n in (40, 60, 20)])


def test_each_stream_counts_exactly_its_positions(tmp_path):
    model = tiny_model(ngram=3)
    trainer = tiny_trainer(tmp_path, model)
    batch = pretraining_batch()
    num_items = trainer._get_num_items_in_batch([batch], torch.device("cpu"))
    expected_count = sum(int(((batch["labels"] != -100) & (batch["target_span_index"] >= s)).sum()) for s in range(3))
    assert int(num_items) == expected_count
    loss, outputs = trainer.compute_loss(model, batch, return_outputs=True, num_items_in_batch=num_items)
    eps = model.config.label_smoothing
    total, count = 0.0, 0
    for s in range(3):
        counted = (batch["labels"] != -100) & (batch["target_span_index"] >= s)
        logits = outputs.predict_logits[:, s][counted]
        direct = torch.nn.functional.cross_entropy(logits, batch["labels"][counted], label_smoothing=eps)
        torch.testing.assert_close(outputs.stream_losses[s], direct)
        total, count = total + direct * counted.sum(), count + int(counted.sum())
    torch.testing.assert_close(loss, total / count)
    assert build_stream_labels(batch["labels"], batch["target_span_index"], 3).ne(-100).sum() == count
    assert len(trainer._stream_losses["eval"]) == 1  # the model is in eval mode: buffered as evaluation


def test_overfitting_drives_every_stream_down():
    torch.manual_seed(0)
    model = BangForConditionalGeneration(tiny_config(ngram=2, label_smoothing=0.0)).train()
    batch = pretraining_batch(seed=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    history = []
    for _ in range(60):
        outputs = model(**batch, mode="ngram")
        history.append(outputs.stream_losses.detach())
        optimizer.zero_grad()
        outputs.loss.backward()
        optimizer.step()
    first, last = history[0], history[-1]
    assert (last < 0.2 * first).all(), (first, last)


def test_trainer_logs_per_stream_losses_and_keeps_idx(tmp_path):
    model = tiny_model(ngram=2)
    train = datasets.Dataset.from_dict(
        {"input_ids": [make_source(n, n) for n in (20, 30, 40, 50)], "idx": [0, 1, 2, 3], "text": ["x"] * 4}
    )
    trainer = tiny_trainer(tmp_path, model, train, train, max_steps=3)
    assert "idx" in trainer._remove_unused_columns(train).column_names
    trainer.train()
    step_logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(step_logs) == 3
    for logs in step_logs:
        assert {"pretrain/stream_0_loss", "pretrain/stream_1_loss"} <= set(logs)
        assert all(math.isfinite(logs[f"pretrain/stream_{s}_loss"]) for s in range(2))
    metrics = trainer.evaluate()
    assert {"eval_pretrain/stream_0_loss", "eval_pretrain/stream_1_loss"} <= set(metrics)
    tiny_trainer(tmp_path, model, label_smoothing_factor=0.1)  # the recipe's smoothing is the n-stream loss's
    assert model.config.label_smoothing == 0.1


# ---------------------------------------------------------------------------------------------------------------
# Example scripts
# ---------------------------------------------------------------------------------------------------------------


def load_example(name: str):
    """The command-line module `bang_spmd.cli.<name>`."""
    return importlib.import_module(f"bang_spmd.cli.{name}")


def run_script(name: str, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp_path / "datasets-cache")}
    result = subprocess.run(
        [sys.executable, "-m", f"bang_spmd.cli.{name}", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def test_chunking_keeps_every_token():
    chunk = chunk_token_ids
    for n in (0, 1, 5, 127, 128, 300, 1000):
        ids = list(range(10, 10 + n))
        chunks = chunk(ids, 128, SEP)
        assert all(c[-1] == SEP and 2 <= len(c) <= 128 for c in chunks)
        assert [t for c in chunks for t in c[:-1]] == ids
        assert len(chunks) == math.ceil(n / 127)
        if chunks:
            assert max(map(len, chunks)) - min(map(len, chunks)) <= 1  # near-equal, no tiny tail
    with pytest.raises(ValueError, match="max_source_length"):
        chunk([1, 2], 1, SEP)


def test_prepare_pretraining_text_reads_both_sides_of_the_train_splits_only(tmp_path):
    fields = {"debtrans-enfr": ("en", "fr"), "debsum": ("document", "summary"), "wndef": ("example", "definition")}
    for name, (source, target) in fields.items():
        (tmp_path / name).mkdir()
        for split in ("train", "validation", "test"):
            rows = [{source: f"{split} text\nof {name} {i}", target: f"{split} target {i}", "id": i} for i in range(2)]
            (tmp_path / name / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    output = tmp_path / "out.txt"
    load_example("prepare_pretraining_text").main(["--data_dir", str(tmp_path), "--output_file", str(output)])
    lines = output.read_text().splitlines()
    expected = [t for name in fields for i in range(2) for t in (f"train text of {name} {i}", f"train target {i}")]
    assert lines == expected  # data sets, rows and fields in order; whitespace runs made one space
    valid = tmp_path / "valid.txt"
    load_example("prepare_pretraining_text").main(
        ["--data_dir", str(tmp_path), "--split", "validation", "--output_file", str(valid), "--datasets", "wndef"]
    )
    assert valid.read_text().splitlines()[:2] == ["validation text of wndef 0", "validation target 0"]


def test_pretrain_script_trains_saves_and_resumes(tmp_path):
    corpus = tmp_path / "corpus.txt"
    words = "the package provides a library for parsing configuration files and tools".split()
    corpus.write_text("\n".join(" ".join(words[i % 5 :] * 3) for i in range(12)) + "\n\n")
    (tmp_path / "valid.txt").write_text("a small tool for files\n")
    out = tmp_path / "out"
    common = ["--train_files", str(corpus), "--output_dir", str(out)]
    common += "--config_preset tiny --use_cpu --per_device_train_batch_size 4 --save_steps 2 --logging_steps 1".split()
    common += ["--report_to", "none"]
    validation = ["--validation_files", str(tmp_path / "valid.txt")]
    first = run_script("pretrain", [*common, "--max_steps", "2", *validation], tmp_path)
    assert "Finished at global step 2" in first.stdout
    assert (out / "checkpoint-2").is_dir()
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    results = json.loads((out / "eval_results.json").read_text())
    assert {"eval_loss", "eval_pretrain/stream_0_loss", "eval_pretrain/stream_1_loss"} <= set(results)
    state = json.loads((out / "trainer_state.json").read_text())
    assert any("pretrain/stream_1_loss" in h for h in state["log_history"])

    resumed = run_script("pretrain", [*common, "--max_steps", "4", "--resume_from_checkpoint", "auto"], tmp_path)
    assert f"Resuming from {out / 'checkpoint-2'}" in resumed.stdout
    assert "Finished at global step 4" in resumed.stdout
    steps = [h["step"] for h in json.loads((out / "trainer_state.json").read_text())["log_history"] if "loss" in h]
    assert steps == [1, 2, 3, 4]  # steps 1-2 restored from the checkpoint, 3-4 trained after resuming
    sittings = json.loads((out / "sittings.json").read_text())
    assert [s["steps"] for s in sittings] == [[0, 2], [2, 4]] and all(s["seconds"] > 0 for s in sittings)
    card = (out / "README.md").read_text()
    assert "2 sitting(s)" in card and "bang-pretrain --train_files" in card and "pretrained BANG model" in card

    with pytest.raises(ValueError, match="not empty"):
        load_example("pretrain").main([*common, "--max_steps", "1"])


def write_pairs(path: Path, n: int) -> None:
    rows = [
        {"id": f"w{i}.n.01", "word": f"word{i}", "example": "an example of the word", "definition": "a short gloss"}
        for i in range(n)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_finetune_script_nar_reports_rouge(tmp_path):
    write_pairs(tmp_path / "train.jsonl", 8)
    write_pairs(tmp_path / "valid.jsonl", 3)
    out = tmp_path / "out"
    args = ["--train_file", str(tmp_path / "train.jsonl"), "--validation_file", str(tmp_path / "valid.jsonl")]
    args += ["--output_dir", str(out), "--report_to", "none"]
    args += "--mode nar --config_preset tiny --max_steps 2 --use_cpu --per_device_train_batch_size 4".split()
    args += "--max_target_length 8 --max_eval_samples 2".split()
    run_script("finetune", args, tmp_path)
    results = json.loads((out / "eval_results.json").read_text())
    assert results["mode"] == "nar" and results["global_step"] == 2 and results["eval_samples"] == 2
    assert math.isfinite(results["eval_loss"]) and 0.0 <= results["rougeL_f1"] <= 100.0
    assert len((out / "nar_predictions.jsonl").read_text().splitlines()) == 2


def test_finetune_targets_too_long_are_errors_unless_truncated(tmp_path):
    tokenizer = __import__("modeling_bang").build_default_tokenizer()
    data = datasets.Dataset.from_list(
        [
            {"id": "short.n.01", "word": "a", "example": "b", "definition": "tiny"},
            {"id": "long.n.01", "word": "a", "example": "b", "definition": "one two three four five six"},
        ]
    )
    args = DataArguments(train_file="unused", max_target_length=4)
    with pytest.raises(ValueError, match="long.n.01"):
        encode_pairs(data, tokenizer, args, "training")
    args.truncate_targets = True
    encoded, truncated = encode_pairs(data, tokenizer, args, "training")
    assert truncated == {"source": 0, "target": 1}
    assert encoded[1]["labels"][-1] == tokenizer.sep_token_id and len(encoded[1]["labels"]) == 4
    assert encoded[0]["input_ids"] == tokenizer("a", "b")["input_ids"]  # word [SEP] example [SEP]
    batch = Seq2SeqCollator(tokenizer.pad_token_id, "ngram")([encoded[0], encoded[1]])
    assert batch["mode"] == "ngram" and batch["labels"][0].tolist()[-1] == -100


@pytest.mark.parametrize("name", ["pretrain", "finetune", "prepare_pretraining_text"])
def test_scripts_have_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_example(name).main(["--help"])
    assert exit_info.value.code == 0
    assert "--output" in capsys.readouterr().out


def test_task_flags_are_defaults_that_explicit_flags_override():
    from bang_spmd.cli.task_defaults import TRAINING_FLAGS, with_task_defaults

    argv = with_task_defaults(["--task", "debtrans", "--max_target_length", "20"], TRAINING_FLAGS)
    assert argv[: argv.index("--task")] == [
        "--source_columns", "en", "--target_column", "fr", "--max_source_length", "48", "--max_target_length", "48",
        "--truncate_targets", "--where", "kind=synopsis", "--validation_metric", "bleu4",
    ]  # fmt: skip
    model_args, data_args, _ = HfArgumentParser(
        (FinetuneModelArguments, DataArguments, TrainingArguments)
    ).parse_args_into_dataclasses(args=[*argv, "--output_dir", "unused"])
    assert (data_args.task, data_args.source_columns, data_args.max_target_length) == ("debtrans", "en", 20)
    assert with_task_defaults(["--train_file", "x"], TRAINING_FLAGS) == ["--train_file", "x"]
    with pytest.raises(ValueError, match="known tasks"):
        with_task_defaults(["--task", "debtrans-typo"], TRAINING_FLAGS)


def test_finetune_with_task_debtrans_trains_on_its_synopses_and_reports_bleu(tmp_path):
    rows = [
        {
            "id": f"pkg{i}#{k}",
            "kind": kind,
            "en": f"tool number {i} for files",
            "fr": f"outil numéro {i} pour fichiers",
        }
        for i in range(6)
        for k, kind in enumerate(("synopsis", "paragraph"))
    ]
    for name in ("train", "valid"):
        (tmp_path / f"{name}.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    out = tmp_path / "out"
    args = ["--task", "debtrans", "--train_file", str(tmp_path / "train.jsonl")]
    args += ["--validation_file", str(tmp_path / "valid.jsonl"), "--output_dir", str(out), "--report_to", "none"]
    args += "--mode nar --config_preset tiny --max_steps 1 --use_cpu --per_device_train_batch_size 4".split()
    args += "--max_target_length 16 --max_source_length 16".split()
    run_script("finetune", args, tmp_path)
    results = json.loads((out / "eval_results.json").read_text())
    assert results["eval_samples"] == 6  # the synopses only (--where kind=synopsis)
    assert 0.0 <= results["bleu4"] <= 100.0 and "rougeL_f1" not in results
    with pytest.raises(ValueError, match="no row|No row"):
        load_example("finetune").main(
            [*args[:4], "--config_preset", "tiny", "--where", "kind=missing", "--output_dir", str(tmp_path / "o2")]
        )


def test_finetuning_starts_from_the_shipped_model_unless_a_new_model_is_described(tmp_path, monkeypatch):
    from bang_spmd import pretrained
    from bang_spmd.recipes import common

    assert common.starting_model(FinetuneModelArguments(config_preset="tiny"), "bang-mini") is None
    assert common.starting_model(FinetuneModelArguments(hidden_size=32), "bang-mini") is None
    assert common.starting_model(FinetuneModelArguments(model_name_or_path="a/b"), "bang-mini") == "a/b"
    monkeypatch.setitem(pretrained.PRETRAINED_MODELS, "bang-mini", str(tmp_path))  # installed: the default start
    assert common.starting_model(FinetuneModelArguments(), "bang-mini") == str(tmp_path)
    assert common.starting_model(FinetuneModelArguments(dropout=0.2), "bang-mini") == str(tmp_path)  # training field
    assert common.starting_model(FinetuneModelArguments(model_name_or_path="bang-mini"), "bang-mini") == str(tmp_path)


def test_pack_chunks_concatenates_in_order_without_losing_or_splitting_a_chunk():
    from bang_spmd.trainers.pretraining import pack_chunks

    chunks = [[5, 3], [6, 7, 3], [8, 9, 10, 3], [11, 3], [12, 13, 14, 15, 16, 3]]
    packed = pack_chunks(chunks, max_length=6)
    assert packed == [[5, 3, 6, 7, 3], [8, 9, 10, 3, 11, 3], [12, 13, 14, 15, 16, 3]]
    assert [t for p in packed for t in p] == [t for c in chunks for t in c]
    assert all(len(p) <= 6 for p in packed)
    assert pack_chunks([], 6) == []


def test_a_sitting_is_recorded_at_every_checkpoint(tmp_path):
    """A sitting stopped by a signal keeps its record up to its last checkpoint; the same sitting is updated, not
    appended again, at its next checkpoint and at its end."""
    from types import SimpleNamespace

    from transformers import TrainingArguments

    from bang_spmd.recipes.pretrain import SittingRecorder, record_sitting

    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    recorder = SittingRecorder(args, started=1_000_000.0, first_step=0)
    for step in (250, 500):
        recorder.on_save(args, SimpleNamespace(is_world_process_zero=True, global_step=step), None)
    sittings = json.loads((tmp_path / "sittings.json").read_text())
    assert [s["steps"] for s in sittings] == [[0, 500]]  # what a killed sitting leaves
    record_sitting(args, 2_000_000.0, 500, 600)  # the next sitting, resumed from checkpoint-500
    assert [s["steps"] for s in json.loads((tmp_path / "sittings.json").read_text())] == [[0, 500], [500, 600]]
