"""The training recipe of BANG's programs (`bang_spmd.trainers.recipe`): its defaults, its learning rate for the start,
the label smoothing it applies to the model, its length-bucketed batches inside the Trainer, and the training time
budget."""

import datasets
import pytest
import torch
from transformers import HfArgumentParser

from bang_spmd.trainers.recipe import (
    LENGTH_BUCKETS,
    NEW_WEIGHTS_LEARNING_RATE,
    PRETRAINED_LEARNING_RATE,
    BangRecipeDefaults,
    BangTrainer,
    BangTrainingArguments,
)
from bang_spmd.trainers.seq2seq_data import Seq2SeqCollator
from bang_spmd.trainers.spmd_trainer import SPMDTrainingArguments

from .helpers import tiny_model, tiny_tokenizer


def pairs(count: int, seed: int = 0) -> datasets.Dataset:
    """Rows of `input_ids` and `labels` (ids 5..98 ending with [SEP] = 2) of lengths 2 to 16."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(count):
        length = int(torch.randint(2, 16, (1,), generator=generator))
        ids = torch.randint(5, 99, (length,), generator=generator).tolist()
        rows.append({"input_ids": [*ids, 2], "labels": [*ids[::-1], 2]})
    return datasets.Dataset.from_list(rows)


def trainer(tmp_path, model=None, train=None, **arguments) -> BangTrainer:
    settings = {"output_dir": str(tmp_path), "max_steps": 4, "per_device_train_batch_size": 8, "report_to": "none",
                "save_strategy": "no", "disable_tqdm": True, "dataloader_pin_memory": False, **arguments}  # fmt: skip
    return BangTrainer(
        model=model if model is not None else tiny_model().train(),
        args=BangTrainingArguments(**settings),
        train_dataset=train if train is not None else pairs(64),
        data_collator=Seq2SeqCollator(0, "ar"),
        processing_class=tiny_tokenizer(),
    )


def test_the_programs_arguments_default_to_the_recipe_and_parse_as_trainer_flags():
    recipe = {name: getattr(BangRecipeDefaults, name) for name in BangRecipeDefaults.__dataclass_fields__}
    for arguments in (BangTrainingArguments(output_dir="x"), SPMDTrainingArguments(output_dir="x")):
        assert {name: getattr(arguments, name) for name in recipe if name != "lr_scheduler_type"} == {
            name: value for name, value in recipe.items() if name != "lr_scheduler_type"
        }
        assert arguments.lr_scheduler_type.value == recipe["lr_scheduler_type"]
    (parsed,) = HfArgumentParser(BangTrainingArguments).parse_args_into_dataclasses(
        ["--output_dir", "x", "--train_sampling_strategy", "random", "--label_smoothing_factor", "0"]
    )
    assert (parsed.train_sampling_strategy, parsed.label_smoothing_factor) == ("random", 0.0)
    with pytest.raises(SystemExit):  # not a sampler
        HfArgumentParser(BangTrainingArguments).parse_args_into_dataclasses(
            ["--output_dir", "x", "--train_sampling_strategy", "sorted"]
        )


def test_the_learning_rate_is_the_recipes_for_the_start_unless_given(tmp_path):
    new = tiny_model().train()
    assert trainer(tmp_path / "new", model=new).args.learning_rate == NEW_WEIGHTS_LEARNING_RATE == 1e-3
    new.save_pretrained(tmp_path / "saved")
    loaded = type(new).from_pretrained(tmp_path / "saved").train()
    assert trainer(tmp_path / "loaded", model=loaded).args.learning_rate == PRETRAINED_LEARNING_RATE == 2e-3
    assert trainer(tmp_path / "given", model=loaded, learning_rate=5e-4).args.learning_rate == 5e-4
    started = trainer(tmp_path / "trained", model=loaded, max_steps=2)
    started.train()
    assert started.lr_scheduler.base_lrs == [PRETRAINED_LEARNING_RATE] * len(started.lr_scheduler.base_lrs)


@pytest.mark.parametrize(
    "bad",
    [{"length_buckets_window": 0}, {"max_train_minutes": 0}, {"max_train_minutes": -1}, {"learning_rate": 0},
     {"learning_rate": -1e-3}],
)  # fmt: skip
def test_bad_recipe_values_are_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        BangTrainingArguments(output_dir="x", **bad)


def test_label_smoothing_factor_replaces_the_model_configs_and_is_bangs_own_loss(tmp_path):
    model = tiny_model(label_smoothing=0.1).train()
    run = trainer(tmp_path, model, label_smoothing_factor=0.0)
    assert model.config.label_smoothing == 0.0 and run.label_smoother is None
    batch = Seq2SeqCollator(0, "ar")([pairs(4)[i] for i in range(4)])
    loss = run.compute_loss(model, batch)
    logits = model(**{k: v for k, v in batch.items() if k != "mode"}, mode="ar").logits
    expected = torch.nn.functional.cross_entropy(logits.transpose(1, 2), batch["labels"])
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-5)
    trainer(tmp_path, model, label_smoothing_factor=0.2)
    assert model.config.label_smoothing == 0.2


def test_length_buckets_give_the_trainer_batches_of_similar_lengths(tmp_path):
    train = pairs(256)
    bucketed = trainer(tmp_path, train=train, train_sampling_strategy=LENGTH_BUCKETS).get_train_dataloader()
    shuffled = trainer(tmp_path, train=train, train_sampling_strategy="random").get_train_dataloader()

    def padding(loader) -> float:
        cells = real = 0
        for batch in loader:
            cells += batch["input_ids"].numel()
            real += int(batch["attention_mask"].sum())
        return cells / real

    assert padding(bucketed) < 1.1 < 1.4 < padding(shuffled)
    assert sum(len(b["input_ids"]) for b in bucketed) == 256  # every example once per epoch


def test_max_train_minutes_stops_the_run(tmp_path):
    run = trainer(tmp_path, max_steps=50, max_train_minutes=1e-9)
    run.train()
    assert run.state.global_step == 1
