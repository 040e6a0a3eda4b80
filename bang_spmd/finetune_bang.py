"""Fine-tune BANG on (source, target) pairs in AR, NAR or n-stream (semi-NAR) mode.

    HF_HUB_OFFLINE=1 bang-finetune --mode nar \
        --train_file ../shared/data/wndef/train.jsonl --validation_file ../shared/data/wndef/validation.jsonl \
        --source_columns word,example --target_column definition \
        --model_name_or_path outputs/bang-pretrained --output_dir outputs/wndef-nar --max_steps 1000

Modes (BANG, Qi et al., ICML 2021, section 3; official fine-tuning in `bang/bang/bang_AR_NAR_mixed.py` and
`criterion_Ngram_NAR_mixed.py`):
* `ar`: teacher-forced main stream plus one predicting stream (official AR fine-tuning).
* `nar`: the official NAR flow, a canvas of masks with no main stream; the model learns to emit `[SEP]` after the
  answer. After training, the validation set is decoded in one pass (`model.generate(decoding_mode="nar")`,
  canvas length `--max_target_length`, official post-processing) and scored with ROUGE-L F1 (rouge-score,
  `RougeScorer(["rougeL"])`, x 100).
* `ngram`: semi-NAR fine-tuning, this package's choice (no semi-NAR code was released): all `config.ngram`
  predicting streams are trained on the target with `target_span_index` = the position index (the model's default),
  so stream s learns to predict y_t with the s previous target tokens hidden, for every t >= s. This is the
  pretraining objective applied to the whole target as one span, and gives the blockwise semi-NAR decoding (k tokens
  per step from streams 0..k-1) a model trained for it. `--ngram` changes the number of streams. The loss is the
  model's mean over every stream's trained tokens, per micro-batch (the Trainer's label-based token count would not
  count the streams).

Data: JSON Lines files with the source columns (`--source_columns word,example`: the first column is the text, the
others joined by a space are the text pair, giving `word [SEP] example [SEP]`) and a target column. Sources longer
than `--max_source_length` are truncated with a warning that counts them; a target longer than
`--max_target_length` tokens (its `[SEP]` included) is an error naming the example's `id` unless `--truncate_targets`
is given (the truncated target still ends with `[SEP]`).

Model: `--model_name_or_path` (a folder saved by `bang_spmd/pretrain_bang.py`, whose tokenizer is used), or
`--config_preset` with the same overrides as the pretraining script (random initialisation, for comparisons).
Results (validation loss, and ROUGE-L for `nar`) are printed and saved to `output_dir/eval_results.json`; NAR
predictions go to `output_dir/nar_predictions.jsonl`.
"""

import json
import os
import sys
from dataclasses import dataclass, field

import datasets
import torch
import transformers
from tqdm.auto import tqdm
from transformers import HfArgumentParser, Trainer, TrainingArguments, set_seed

from bang_spmd.trainers.model_setup import (
    BangModelArguments,
    build_bang_model,
    load_tokenizer,
    resolve_resume_checkpoint,
)
from bang_spmd.trainers.seq2seq_data import DataArguments, encode_pairs, rouge_l
from modeling_bang import DECODER_MODES
from modeling_bang.generation_bang import collapse_repeated_words


logger = transformers.utils.logging.get_logger("finetune_bang")


@dataclass
class FinetuneModelArguments(BangModelArguments):
    mode: str = field(default="nar", metadata={"help": "Decoder flow trained: `ar`, `nar` or `ngram` (semi-NAR)."})


class Seq2SeqCollator:
    """Pads sources (`[PAD]`) and labels (-100) and adds the decoder `mode` to every batch."""

    def __init__(self, pad_token_id: int, mode: str):
        self.pad_token_id, self.mode = pad_token_id, mode

    def __call__(self, examples: list[dict]) -> dict:
        source_len = max(len(e["input_ids"]) for e in examples)
        target_len = max(len(e["labels"]) for e in examples)
        input_ids = torch.full((len(examples), source_len), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(examples), source_len), dtype=torch.long)
        labels = torch.full((len(examples), target_len), -100, dtype=torch.long)
        for row, example in enumerate(examples):
            input_ids[row, : len(example["input_ids"])] = torch.tensor(example["input_ids"])
            attention_mask[row, : len(example["input_ids"])] = 1
            labels[row, : len(example["labels"])] = torch.tensor(example["labels"])
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels, "mode": self.mode}


def evaluate_nar(model, tokenizer, dataset: datasets.Dataset, canvas_length: int, batch_size: int, device) -> dict:
    """Decodes `dataset` with one NAR pass per batch and scores ROUGE-L F1 against its `reference` column."""
    model.eval()
    collator = Seq2SeqCollator(tokenizer.pad_token_id, "nar")
    predictions = []
    for start in tqdm(range(0, len(dataset), batch_size), desc="NAR decoding"):
        rows = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        batch = collator(rows)
        ids = model.generate(
            batch["input_ids"].to(device),
            attention_mask=batch["attention_mask"].to(device),
            decoding_mode="nar",
            max_new_tokens=canvas_length,
        )
        predictions += [
            collapse_repeated_words(text) for text in tokenizer.batch_decode(ids, skip_special_tokens=True)
        ]
    references = list(dataset["reference"])
    return {"rougeL_f1": rouge_l(predictions, references), "predictions": predictions, "references": references}


def main(argv: list[str] | None = None) -> dict:
    parser = HfArgumentParser((FinetuneModelArguments, DataArguments, TrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    log_level = training_args.get_process_log_level()
    transformers.utils.logging.set_verbosity(log_level)
    datasets.utils.logging.set_verbosity(log_level)
    if model_args.mode not in DECODER_MODES:
        raise ValueError(f"--mode must be one of {DECODER_MODES}, got {model_args.mode!r}.")
    resume = resolve_resume_checkpoint(training_args, data_args.overwrite_output_dir)
    set_seed(training_args.seed)

    tokenizer = load_tokenizer(model_args)
    model = build_bang_model(
        model_args, tokenizer, min_positions=max(data_args.max_source_length, data_args.max_target_length)
    )
    data_args.check(model.config.max_position_embeddings)
    start = "from " + model_args.model_name_or_path if model_args.model_name_or_path else "from random initialisation"
    print(
        f"Fine-tuning BANG ({sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, "
        f"ngram={model.config.ngram}) in {model_args.mode!r} mode {start}"
    )

    with training_args.main_process_first(desc="preprocessing"):
        train = datasets.load_dataset("json", data_files=data_args.train_file, split="train")
        if data_args.max_train_samples is not None:
            train = train.select(range(min(data_args.max_train_samples, len(train))))
        train, _ = encode_pairs(train, tokenizer, data_args, "training")
        validation = None
        if data_args.validation_file is not None:
            validation = datasets.load_dataset("json", data_files=data_args.validation_file, split="train")
            if data_args.max_eval_samples is not None:
                validation = validation.select(range(min(data_args.max_eval_samples, len(validation))))
            validation, _ = encode_pairs(validation, tokenizer, data_args, "validation")

    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train.remove_columns("reference"),
        eval_dataset=validation.remove_columns("reference") if validation is not None else None,
        data_collator=Seq2SeqCollator(tokenizer.pad_token_id, model_args.mode),
        processing_class=tokenizer,
    )
    if model_args.mode == "ngram":
        # The Trainer's `num_items_in_batch` counts labels, not the tokens of every stream: let the model normalise.
        trainer.model_accepts_loss_kwargs = False
    train_result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model()
    tokenizer.save_pretrained(training_args.output_dir)
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()

    results = {"mode": model_args.mode, "global_step": trainer.state.global_step}
    if validation is not None:
        results["eval_loss"] = trainer.evaluate()["eval_loss"]
        results["eval_samples"] = len(validation)
        if model_args.mode == "nar" and trainer.is_world_process_zero():
            nar = evaluate_nar(
                trainer.model,
                tokenizer,
                validation,
                data_args.max_target_length,
                training_args.per_device_eval_batch_size,
                training_args.device,
            )
            results["rougeL_f1"] = nar["rougeL_f1"]
            results["canvas_length"] = data_args.max_target_length
            with open(os.path.join(training_args.output_dir, "nar_predictions.jsonl"), "w", encoding="utf-8") as f:
                for prediction, reference in zip(nar["predictions"], nar["references"], strict=True):
                    f.write(json.dumps({"prediction": prediction, "reference": reference}) + "\n")
    if trainer.is_world_process_zero():
        with open(os.path.join(training_args.output_dir, "eval_results.json"), "w") as f:
            json.dump(results, f, indent=2)
        print("results " + json.dumps(results))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
