"""The training recipe does not collapse where the former one did: a miniature of the debtrans finding.

From random weights, the programs' former recipe (peak 2e-3 after 10 % warm-up, linear decay to 0, label smoothing
0.1, transformers' `group_by_length`) left BANG on a plateau where the decoder ignores the source and writes one
sentence for every input (examples/results/recipe/README.md). The miniature: a 64-hidden, 1 + 1-layer BANG learns to
translate token sequences through a fixed permutation of the vocabulary (each target also repeats the first
translated token a number of times set by the last source token, so that lengths differ between source and
target), 1,000 steps of 32 pairs. With the former recipe it writes at most a handful of distinct outputs for 64
held-out sources; with the recipe's defaults (`BangTrainingArguments`) at least 90 % of them are distinct.
"""

import random

import datasets
import torch

from bang_spmd.trainers.recipe import BangTrainer, BangTrainingArguments
from bang_spmd.trainers.seq2seq_data import Seq2SeqCollator, pad_sources
from modeling_bang import BangConfig, BangForConditionalGeneration

from .helpers import tiny_tokenizer


FORMER_RECIPE = {
    "learning_rate": 2e-3,
    "lr_scheduler_type": "linear",
    "warmup_steps": 0.1,
    "weight_decay": 0.0,
    "label_smoothing_factor": 0.1,
    "train_sampling_strategy": "group_by_length",
}
STEPS, BATCH, HELD_OUT = 1000, 32, 64


def permutation_pairs(count: int, rng: random.Random, permutation: list[int]) -> list[dict]:
    rows = []
    for _ in range(count):
        source = [rng.randint(5, 98) for _ in range(rng.randint(3, 8))]
        target = [permutation[t - 5] for t in source]
        target += [permutation[source[0] - 5]] * (source[-1] % 4)
        rows.append({"input_ids": [*source, 2], "labels": [*target, 2]})
    return rows


def distinct_outputs_after_training(recipe: dict, tmp_path) -> int:
    rng = random.Random(0)
    permutation = list(range(5, 99))
    rng.shuffle(permutation)
    train, held_out = permutation_pairs(4000, rng, permutation), permutation_pairs(HELD_OUT, rng, permutation)
    config = BangConfig.from_preset(
        "tiny", hidden_size=64, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=256, decoder_ffn_dim=256, dropout=0.1,
    )  # fmt: skip
    torch.manual_seed(1)
    model = BangForConditionalGeneration(config)
    arguments = BangTrainingArguments(
        output_dir=str(tmp_path), max_steps=STEPS, per_device_train_batch_size=BATCH, seed=1, report_to="none",
        save_strategy="no", disable_tqdm=True, dataloader_pin_memory=False, **recipe,
    )  # fmt: skip
    BangTrainer(
        model=model,
        args=arguments,
        train_dataset=datasets.Dataset.from_list(train),
        data_collator=Seq2SeqCollator(0, "ar"),
        processing_class=tiny_tokenizer(),
    ).train()
    input_ids, attention_mask = pad_sources([row["input_ids"] for row in held_out], 0)
    with torch.inference_mode():
        outputs = model.eval().generate(
            input_ids, attention_mask=attention_mask, decoding_mode="ar", max_new_tokens=16
        )
    return len({tuple(row.tolist()) for row in outputs})


def test_the_former_recipe_collapses_and_the_recipe_does_not(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tensors this small run fastest on one thread
    try:
        assert distinct_outputs_after_training(FORMER_RECIPE, tmp_path / "former") <= 8
        assert distinct_outputs_after_training({}, tmp_path / "recipe") >= 0.9 * HELD_OUT
    finally:
        torch.set_num_threads(threads)
