"""SPMDTrainer: losses, logged metrics, exact resume, bad input, the training script and 2-process training."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import TrainerCallback

from bang_spmd.trainers import (
    DISTILLED_HASH_COLUMN,
    DISTILLED_LABELS,
    SPMDDataCollator,
    SPMDTrainer,
    SPMDTrainingArguments,
    as_nar_student,
    distilled_sha256,
)
from bang_spmd.trainers.spmd_objectives import prediction_overlap, select_by_overlap

from .helpers import free_port, tiny_model


REPO = Path(__file__).resolve().parents[1]
SPMD_METRICS = {
    "spmd/nar_loss",
    "spmd/pace_fraction",
    "spmd/admitted_fraction",
    "spmd/mean_weight",
    "spmd/threshold",
    "spmd/distilled_share",
    "spmd/distilled_ratio",
    "spmd/ar_step_share",
}


def toy_examples(n: int = 16, seed: int = 0, num_distilled: int = 1) -> list[dict]:
    """Tokenized examples for the tiny config (pad 0, cls 1, eos 2, vocab 99): distilled = a perturbed gold target."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        source = torch.randint(3, 99, (int(torch.randint(4, 9, (1,), generator=generator)),), generator=generator)
        gold = torch.randint(3, 99, (int(torch.randint(2, 6, (1,), generator=generator)),), generator=generator)
        distilled = [
            torch.cat([gold[: max(1, len(gold) - k)], torch.randint(3, 99, (1,), generator=generator)]).tolist()
            for k in range(num_distilled)
        ]
        rows.append(
            {
                "input_ids": source.tolist() + [2],
                "labels": gold.tolist() + [2],
                DISTILLED_LABELS: [d + [2] for d in distilled],
            }
        )
    return rows


def spmd_args(tmp_path, **overrides) -> SPMDTrainingArguments:
    settings = {
        "output_dir": str(tmp_path),
        "per_device_train_batch_size": 4,
        "learning_rate": 1e-2,
        "max_steps": 6,
        "logging_steps": 1,
        "report_to": [],
        "use_cpu": True,
        "seed": 7,
        "save_strategy": "no",
        "disable_tqdm": True,
    }
    return SPMDTrainingArguments(**{**settings, **overrides})


def nar_student(seed: int = 0, **overrides):
    """A tiny model set up as SPMDTrainer requires (`as_nar_student`)."""
    return as_nar_student(tiny_model(seed, **overrides))


def make_trainer(tmp_path, model=None, data=None, **overrides) -> SPMDTrainer:
    model = model if model is not None else nar_student(init_std=0.3)
    return SPMDTrainer(
        model=model,
        args=spmd_args(tmp_path, **overrides),
        train_dataset=data if data is not None else toy_examples(),
        data_collator=SPMDDataCollator(pad_token_id=0, eos_token_id=2),
    )


def test_collator_pads_gold_and_distilled_references_to_one_canvas():
    batch = SPMDDataCollator(0, 2)(toy_examples(3, num_distilled=2))
    assert batch["labels"].shape[1] == batch[DISTILLED_LABELS].shape[2]
    assert batch[DISTILLED_LABELS].shape[:2] == (3, 2)
    assert torch.equal(batch["attention_mask"], batch["input_ids"].ne(0).long())


def test_gold_only_without_self_pacing_is_the_plain_nar_loss(tmp_path):
    trainer = make_trainer(tmp_path, mixing_strategy="gold", self_paced_scheme="none")
    batch = SPMDDataCollator(0, 2)(toy_examples(4))
    model = trainer.model.train()
    num_items = batch["labels"].ne(-100).sum()
    loss = trainer.compute_loss(model, dict(batch), num_items_in_batch=num_items)
    expected = model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"], mode="nar"
    ).loss
    torch.testing.assert_close(loss, expected)


def test_select_picks_the_reference_with_the_lowest_loss_and_decodes_each_source_once(tmp_path):
    trainer = make_trainer(tmp_path, mixing_strategy="select", self_paced_scheme="none")
    batch = SPMDDataCollator(0, 2)(toy_examples(4))
    model = trainer.model.train()
    encoder_rows, decoder_rows = [], []
    hooks = [
        model.model.encoder.register_forward_hook(lambda m, i, o: encoder_rows.append(o[0].shape[0])),
        model.model.decoder.register_forward_hook(lambda m, i, o: decoder_rows.append(o[0].shape[0])),
    ]
    loss = trainer.compute_loss(model, dict(batch), num_items_in_batch=None)
    for hook in hooks:
        hook.remove()
    assert encoder_rows == [4] and decoder_rows == [4]  # one pass over the 4 sources scores their 8 references
    with torch.no_grad():
        per_reference = torch.stack(
            [
                model(input_ids=batch["input_ids"], labels=labels, mode="nar").per_sample_loss
                for labels in (batch["labels"], batch[DISTILLED_LABELS][:, 0])
            ],
            dim=1,
        )
        chosen = per_reference.argmin(1)
        references = torch.stack([batch["labels"], batch[DISTILLED_LABELS][:, 0]], dim=1)[torch.arange(4), chosen]
        expected = model(input_ids=batch["input_ids"], labels=references, mode="nar").loss
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-5, atol=1e-6)


def test_select_by_prediction_overlap_trains_on_the_reference_nearest_the_students_prediction(tmp_path):
    trainer = make_trainer(
        tmp_path, mixing_strategy="select", selection_rule="prediction_overlap", self_paced_scheme="none"
    )
    batch = SPMDDataCollator(0, 2)(toy_examples(4))
    model = trainer.model.train()
    loss = trainer.compute_loss(model, dict(batch), num_items_in_batch=None)
    references = torch.stack([batch["labels"], batch[DISTILLED_LABELS][:, 0]], dim=1)  # (4, 2, T)
    with torch.no_grad():
        outputs = [model(input_ids=batch["input_ids"], labels=references[:, r], mode="nar") for r in range(2)]
        predictions = outputs[0].logits.argmax(-1)
        torch.testing.assert_close(outputs[1].logits, outputs[0].logits)  # the NAR prediction ignores the labels
        overlaps = prediction_overlap(predictions, references, references.ne(-100).any(-1), 2)
        losses = torch.stack([o.per_sample_loss for o in outputs], dim=1)
        chosen = select_by_overlap(overlaps, losses, torch.ones(4, 2, dtype=torch.bool)).argmax(1)
        expected = model(input_ids=batch["input_ids"], labels=references[torch.arange(4), chosen], mode="nar").loss
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "settings",
    [
        {"mixing_strategy": "select", "self_paced_scheme": "hard"},
        {"mixing_strategy": "random_mix", "distilled_ratio": 0.5, "self_paced_scheme": "mixture"},
        {"mixing_strategy": "average", "self_paced_scheme": "logarithmic", "nar_ratio": 0.5},
        {"mixing_strategy": "distilled", "self_paced_scheme": "linear", "kd_weight": 0.5},
        {
            "mixing_strategy": "select",
            "selection_rule": "prediction_overlap",
            "self_paced_scheme": "hard",
            "pace_by": "agreement",
        },
    ],
)
def test_a_few_steps_log_every_metric_and_change_the_parameters(tmp_path, settings):
    model = nar_student(init_std=0.3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    teacher = tiny_model(seed=3, init_std=0.3) if settings.get("kd_weight") else None
    trainer = SPMDTrainer(
        model=model,
        args=spmd_args(tmp_path, **settings),
        train_dataset=toy_examples(),
        data_collator=SPMDDataCollator(0, 2),
        teacher_model=teacher,
    )
    trainer.train()
    logged = set().union(*(entry.keys() for entry in trainer.state.log_history))
    expected = set(SPMD_METRICS)
    if settings.get("nar_ratio", 1.0) < 1:
        expected.add("spmd/ar_loss")
    if settings.get("kd_weight"):
        expected.add("spmd/kd_loss")
    if settings.get("pace_by") == "agreement":
        expected |= {"spmd/gold_overlap", "spmd/distilled_overlap", "spmd/chosen_overlap", "spmd/loss_gap"}
    assert expected <= logged, expected - logged
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert len(changed) > len(before) // 2
    shares = [e["spmd/admitted_fraction"] for e in trainer.state.log_history if "spmd/admitted_fraction" in e]
    assert shares[-1] == 1.0  # the pace has admitted everything by the end (end point 0.5 of 6 steps)


class StopAt(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def test_resuming_from_a_checkpoint_reproduces_the_uninterrupted_run(tmp_path):
    settings = {
        "mixing_strategy": "random_mix",
        "self_paced_scheme": "hard",
        "pace_end_point": 1.0,
        "save_strategy": "steps",
        "save_steps": 3,
    }
    full = make_trainer(tmp_path / "full", **settings)
    full.train()
    interrupted = make_trainer(tmp_path / "cut", **settings)
    interrupted.add_callback(StopAt(3))
    interrupted.train()
    resumed = make_trainer(tmp_path / "cut", **settings)
    resumed.train(resume_from_checkpoint=str(tmp_path / "cut" / "checkpoint-3"))
    for (name, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)

    def losses(trainer):
        return {e["step"]: (e["loss"], e.get("spmd/threshold")) for e in trainer.state.log_history if "loss" in e}

    expected, got = losses(full), losses(resumed)
    assert [s for s in got if s > 3] == [4, 5, 6]
    for step in (4, 5, 6):
        assert got[step] == pytest.approx(expected[step], rel=1e-5), step


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"mixing_strategy": "closest"}, "mixing_strategy"),
        ({"self_paced_scheme": "soft"}, "self_paced_scheme"),
        ({"pace_start_fraction": 0.0}, "pace_start_fraction"),
        ({"distilled_ratio": 1.5}, "distilled_ratio"),
        ({"mix_schedule": "linear"}, "distilled_ratio_end"),
        ({"kd_temperature": 0.0}, "kd_temperature"),
        ({"length_buckets_window": 0}, "length_buckets_window"),
    ],
)
def test_invalid_options_name_the_field(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        spmd_args(tmp_path, **overrides)


def test_bad_data_gets_a_clear_error(tmp_path):
    no_distilled = [{k: v for k, v in row.items() if k != DISTILLED_LABELS} for row in toy_examples(8)]
    with pytest.raises(ValueError, match=DISTILLED_LABELS):
        make_trainer(tmp_path, data=no_distilled, mixing_strategy="select").train()
    empty = toy_examples(4)
    empty[1][DISTILLED_LABELS] = [[2]]
    with pytest.raises(ValueError, match="Distilled target 0 of batch example 1 is empty"):
        SPMDDataCollator(0, 2)(empty)
    with pytest.raises(ValueError, match="labels"):
        SPMDDataCollator(0, 2)([{"input_ids": [5, 2]}])
    with pytest.raises(ValueError, match="kd_weight"):
        make_trainer(tmp_path, kd_weight=1.0)


def test_a_model_not_set_up_for_nar_is_refused_and_left_unchanged(tmp_path):
    model = tiny_model()  # default_mode and decoding_mode "ar", as a fine-tuned AR teacher has them
    with pytest.raises(ValueError, match="must be 'nar'.*as_nar_student"):
        make_trainer(tmp_path, model=model)
    assert model.config.default_mode == "ar" and model.generation_config.decoding_mode == "ar"
    model.generation_config.decoding_mode = "nar"  # one of the two is not enough
    with pytest.raises(ValueError, match="default_mode"):
        make_trainer(tmp_path, model=model)
    assert make_trainer(tmp_path, model=as_nar_student(model)).model is model


WORDS = "bright river stone quiet garden music winter letter market travel morning window silver forest".split()


def synthetic_pairs(n: int, seed: int = 0) -> list[dict]:
    """Deterministic (word, example, definition) rows in the wndef format, so that the test needs no shared data."""
    generator = torch.Generator().manual_seed(seed)

    def words(k: int) -> str:
        return " ".join(WORDS[int(i)] for i in torch.randint(len(WORDS), (k,), generator=generator))

    return [{"id": f"row{i}", "word": words(1), "example": words(4), "definition": words(6)} for i in range(n)]


@pytest.fixture(scope="module")
def spmd_data(tmp_path_factory):
    """A tokenizer fitted to the rows and a 48-pair training file with a (synthetic) distilled target per pair."""
    from modeling_bang import train_wordpiece_tokenizer

    folder = tmp_path_factory.mktemp("spmd_data")
    rows = synthetic_pairs(48)
    texts = [f"{r['word']} {r['example']} {r['definition']}" for r in rows]
    tokenizer = train_wordpiece_tokenizer(texts, vocab_size=100, min_frequency=1)
    tokenizer.save_pretrained(folder / "tokenizer")
    with open(folder / "train.jsonl", "w") as f:
        for r in rows:
            distilled = tokenizer(" ".join(r["definition"].split()[:3]))["input_ids"]
            row_hash = distilled_sha256([r["word"], r["example"]], [distilled])
            f.write(json.dumps({**r, DISTILLED_LABELS: [distilled], DISTILLED_HASH_COLUMN: row_hash}) + "\n")
    with open(folder / "validation.jsonl", "w") as f:
        for r in rows[:8]:
            f.write(json.dumps(r) + "\n")
    return folder


def script_args(data: Path, output_dir: Path, max_steps: int = 4) -> list[str]:
    return [
        "--train_file", str(data / "train.jsonl"), "--validation_file", str(data / "validation.jsonl"),
        "--tokenizer_name_or_path", str(data / "tokenizer"), "--hidden_size", "16", "--max_target_length", "32",
        "--truncate_targets", "--max_source_length", "48", "--output_dir", str(output_dir),
        "--max_steps", str(max_steps), "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "8",
        "--learning_rate", "1e-3", "--logging_steps", "1", "--report_to", "none", "--save_strategy", "no",
        "--mixing_strategy", "select", "--self_paced_scheme", "hard", "--predict_with_generate", "--use_cpu",
        "--disable_tqdm", "true",
    ]  # fmt: skip


def test_training_script_trains_evaluates_with_nar_generation_and_saves(spmd_data, tmp_path):
    from bang_spmd.cli.train import main

    results = main(script_args(spmd_data, tmp_path / "run"))
    assert results["global_step"] == 4 and "eval_rougeL_f1" in results and results["eval_loss"] > 0
    assert json.loads((tmp_path / "run" / "eval_results.json").read_text()) == results
    from transformers import AutoModelForSeq2SeqLM

    reloaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "run", trust_remote_code=True)
    assert reloaded.generation_config.decoding_mode == "nar"


WORKER = r"""
import hashlib, json, os, sys
import torch
from accelerate import PartialState
sys.path.insert(0, sys.argv[2])
from tests.helpers import tiny_model
from tests.test_spmd_trainer import nar_student, toy_examples, spmd_args
from bang_spmd.trainers import SPMDDataCollator, SPMDTrainer
state = PartialState()
out = sys.argv[1]
def digest(model):
    return hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()
model = nar_student(init_std=0.3)
initial = digest(model)
trainer = SPMDTrainer(model=model, args=spmd_args(out, per_device_train_batch_size=2, max_steps=3),
                      train_dataset=toy_examples(16), data_collator=SPMDDataCollator(0, 2))
trainer.train()
record = {"rank": state.process_index, "world": state.num_processes, "digest": digest(trainer.model),
          "initial": initial, "steps": trainer.state.global_step,
          "backend": torch.distributed.distributed_c10d.get_backend_config()}
with open(os.path.join(out, f"rank{state.process_index}.json"), "w") as f:
    json.dump(record, f)
state.destroy_process_group()  # as accelerate asks of a script's end; exiting with it alive can abort (SIGABRT)
"""


def test_two_cpu_processes_under_accelerate_train_in_sync(tmp_path):
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()),
        str(worker), str(tmp_path), str(REPO),
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    records = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in records] == [2, 2]
    assert "gloo" in records[0]["backend"], records[0]["backend"]
    assert [r["steps"] for r in records] == [3, 3]
    assert records[0]["digest"] == records[1]["digest"] != records[0]["initial"]
