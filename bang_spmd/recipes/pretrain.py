"""Pretrain BANG with its cross-stream visible n-stream objective (Qi et al., ICML 2021, section 3): `pretrain(...)`.

Data: text files (one document per line; blank lines are skipped), JSON Lines files (`text_column`), or a `datasets`
data set (`dataset_name`, `dataset_config_name`, `text_column`). Every document is tokenized without special tokens and
split into chunks of at most `max_source_length` tokens, each ending with `[SEP]`
(`bang_spmd.trainers.tokenize_and_chunk`: near-equal chunks, so no text is dropped and no tiny trailing chunk is made);
with `pack_documents` consecutive chunks are concatenated up to `max_source_length` tokens, so that short documents are
pretrained in full-length sequences. Chunks are masked on the fly by `bang_spmd.trainers.BangSpanMaskingCollator` (one
span per 64-token block, 80/10/10), with new masks every epoch; the validation chunks are masked once (epoch 0) so that
every evaluation sees the same masks. `ngram` sets the number of predicting streams (default 2 here; the released BANG
was pretrained with 9).

Model: the `ModelShape` of `BangModelArguments` (the vocabulary size and the special ids always come from the
tokenizer), or `model_name_or_path` for continued pretraining. Tokenizer: the default BANG tokenizer
(bert-base-uncased WordPiece), or `tokenizer_name_or_path` (e.g. a folder written by `bang-train-tokenizer`).
Resuming: `resume_from_checkpoint` PATH, or `auto` for the last `checkpoint-*` folder in `output_dir` (a fresh start
when there is none); a non-empty `output_dir` is refused unless `overwrite_output_dir` is set or training resumes.
The model and tokenizer are saved to `output_dir` at the end; with validation data the final evaluation loss and
per-stream losses (`eval_pretrain/stream_{s}_loss`) are printed and saved to `eval_results.json`.
"""

import datetime
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import torch
import transformers
from transformers import TrainerCallback, TrainingArguments

from bang_spmd.data.jsonl import check_jsonl_file
from bang_spmd.model_cards import write_model_card
from bang_spmd.pretrained import resolve_model_name
from bang_spmd.trainers.model_setup import build_bang_model, check_model_folder, load_tokenizer
from bang_spmd.trainers.pretraining import (
    BangPretrainingTrainer,
    BangSpanMaskingCollator,
    mask_spans_for_dataset,
    tokenize_and_chunk,
)
from bang_spmd.trainers.run_files import naming_write_failures, write_atomically

from .common import BangModelArguments, claim_output_dir, count_parameters, save_trained_model, start_run


logger = transformers.utils.logging.get_logger(__name__)

# Streams of a pretrained model when the shape does not set `ngram`.
DEFAULT_PRETRAINING_NGRAM = 2
SITTINGS_FILE = "sittings.json"


@dataclass
class PretrainingDataArguments:
    train_files: list[str] | None = field(
        default=None, metadata={"help": "Text files (one document per line) or .jsonl/.json files."}
    )
    validation_files: list[str] | None = field(default=None, metadata={"help": "Same formats as --train_files."})
    dataset_name: str | None = field(default=None, metadata={"help": "A `datasets` data set (instead of files)."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Its configuration name."})
    dataset_validation_split: str = field(
        default="validation", metadata={"help": "Split evaluated when --dataset_name is used (if it exists)."}
    )
    text_column: str = field(default="text", metadata={"help": "Column holding the text (jsonl / datasets)."})
    max_source_length: int = field(default=128, metadata={"help": "Chunk length in tokens, [SEP] included."})
    pack_documents: bool = field(
        default=False,
        metadata={"help": "Concatenate consecutive documents (each ending with [SEP]) up to --max_source_length."},
    )
    block_size: int = field(default=64, metadata={"help": "One masked span per block of this many tokens."})
    mask_ratio: float = field(default=0.15, metadata={"help": "Span length = floor(mask_ratio * block length)."})
    mask_prob: float = field(default=0.8, metadata={"help": "Probability that a span token becomes [MASK]."})
    random_prob: float = field(default=0.1, metadata={"help": "Probability that a span token becomes random."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only the first N chunks."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep only the first N validation chunks."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenization."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Allow writing into a non-empty output_dir."})

    def __post_init__(self) -> None:
        for name in ("max_train_samples", "max_eval_samples", "preprocessing_num_workers"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"--{name} must be a positive integer (or left out), got {value!r}.")
        if self.max_source_length < 2:
            raise ValueError(
                f"--max_source_length must be at least 2 (a token and [SEP]), got {self.max_source_length}."
            )
        if self.block_size < 1:
            raise ValueError(f"--block_size must be a positive integer, got {self.block_size}.")
        for name in ("mask_ratio", "mask_prob", "random_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"--{name} must be in [0, 1], got {getattr(self, name)}.")


def _check_text_files(files: list[str], column: str) -> None:
    """Reads the files of a split first: a ValueError names a bad JSON line (file, line, column) or a split with
    no text at all."""
    documents = 0
    for path in files:
        if Path(path).suffix == ".json":  # a JSON document, read by `datasets` as it is
            documents += 1
        elif Path(path).suffix == ".jsonl":
            documents += check_jsonl_file(path, [column], "pretraining file")
        else:
            with open(path, encoding="utf-8") as lines:
                documents += sum(1 for line in lines if line.strip())
    if documents == 0:
        raise ValueError(f"The pretraining file(s) {files} hold no text (every line is blank).")


def load_texts(data_args: PretrainingDataArguments, files: list[str] | None, split: str) -> datasets.Dataset | None:
    """Loads one split as a data set with a single `text` column."""
    column = data_args.text_column
    if data_args.dataset_name is not None:
        loaded = datasets.load_dataset(data_args.dataset_name, data_args.dataset_config_name)
        if split not in loaded:
            return None
        dataset = loaded[split]
    elif files:
        missing = [f for f in files if not Path(f).is_file()]
        if missing:
            raise ValueError(f"Data file(s) {missing} do not exist.")
        suffixes = {Path(f).suffix for f in files}
        if suffixes & {".jsonl", ".json"} and not suffixes <= {".jsonl", ".json"}:
            raise ValueError(f"Do not mix JSON and text files in one split: {files}.")
        _check_text_files(files, column)
        if suffixes <= {".jsonl", ".json"}:
            dataset = datasets.load_dataset("json", data_files=files, split="train")
        else:
            dataset = datasets.load_dataset("text", data_files=files, split="train")
            column = "text"
    else:
        return None
    if column not in dataset.column_names:
        raise ValueError(f"The text column {column!r} is not in the data (columns: {dataset.column_names}).")
    return dataset.select_columns([column]).rename_column(column, "text") if column != "text" else dataset


def _chunks(data_args: PretrainingDataArguments, texts: datasets.Dataset, tokenizer, what: str, limit: int | None):
    chunked = tokenize_and_chunk(
        texts,
        tokenizer,
        data_args.max_source_length,
        what,
        num_proc=data_args.preprocessing_num_workers,
        pack=data_args.pack_documents,
    )
    return chunked.select(range(min(limit, len(chunked)))) if limit is not None else chunked


def pretrain(
    model_args: BangModelArguments,
    data_args: PretrainingDataArguments,
    training_args: TrainingArguments,
    command: str | None = None,
) -> dict:
    """Pretrains, saves the model and tokenizer, evaluates, records the sitting and writes the model card (with
    `command`, the command line that ran it, when given); returns the evaluation metrics (empty without validation
    data)."""
    with claim_output_dir(training_args):
        return _pretrain(model_args, data_args, training_args, command)


def _pretrain(
    model_args: BangModelArguments,
    data_args: PretrainingDataArguments,
    training_args: TrainingArguments,
    command: str | None,
) -> dict:
    if data_args.dataset_name is None and not data_args.train_files:
        raise ValueError("Give --train_files or --dataset_name.")
    resume = start_run(training_args, data_args.overwrite_output_dir)
    start = resolve_model_name(model_args.model_name_or_path)  # continued pretraining, e.g. of bang-mini
    if start is not None:  # before its tokenizer is read: a folder that is no BANG model is refused first
        check_model_folder(start, "--model_name_or_path", bang_only=True)
    tokenizer = load_tokenizer(
        resolve_model_name(model_args.tokenizer_name_or_path), start, model_args.trust_remote_code
    )
    model = build_bang_model(
        model_args,
        tokenizer,
        min_positions=data_args.max_source_length,
        default_ngram=DEFAULT_PRETRAINING_NGRAM,
        model_name_or_path=start,
    )
    if data_args.max_source_length > model.config.max_position_embeddings:
        raise ValueError(
            f"--max_source_length {data_args.max_source_length} exceeds the model's max_position_embeddings "
            f"({model.config.max_position_embeddings})."
        )
    print(
        f"BANG with {count_parameters(model)} parameters, ngram={model.config.ngram}, "
        f"vocabulary {model.config.vocab_size}"
    )

    with training_args.main_process_first(desc="preprocessing"):
        train_texts = load_texts(data_args, data_args.train_files, "train")
        if train_texts is None:
            raise ValueError("No training split found.")
        train_dataset = _chunks(data_args, train_texts, tokenizer, "training", data_args.max_train_samples)
        eval_texts = load_texts(
            data_args,
            data_args.validation_files,
            data_args.dataset_validation_split if data_args.dataset_name else "validation",
        )
        eval_dataset = None
        collator = BangSpanMaskingCollator.from_tokenizer(
            tokenizer,
            block_size=data_args.block_size,
            mask_ratio=data_args.mask_ratio,
            mask_prob=data_args.mask_prob,
            random_prob=data_args.random_prob,
            seed=training_args.seed,
        )
        if eval_texts is not None:
            eval_dataset = _chunks(data_args, eval_texts, tokenizer, "validation", data_args.max_eval_samples)
            eval_dataset = eval_dataset.map(
                mask_spans_for_dataset,
                batched=True,
                fn_kwargs={"collator": collator},
                desc="Masking the validation chunks once",
            )
    num_eval = len(eval_dataset) if eval_dataset is not None else 0
    print(f"{len(train_dataset)} training chunks, {num_eval} validation chunks")

    trainer = BangPretrainingTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=collator,
        processing_class=tokenizer,
    )
    if resume is not None:
        print(f"Resuming from {resume}")
    started, first_step = time.time(), _checkpoint_step(resume)
    trainer.add_callback(SittingRecorder(training_args, started, first_step))
    train_result = trainer.train(resume_from_checkpoint=resume)
    with naming_write_failures(training_args.output_dir, f"into the output directory {training_args.output_dir}"):
        save_trained_model(trainer, train_result)
        trainer.log_metrics("train", train_result.metrics)
        print(f"Finished at global step {trainer.state.global_step}")

        metrics = {}
        if eval_dataset is not None:
            metrics = trainer.evaluate()
            trainer.log_metrics("eval", metrics)
            if trainer.is_world_process_zero():
                write_atomically(Path(training_args.output_dir) / "eval_results.json", json.dumps(metrics, indent=2))
            print("eval " + json.dumps({k: round(v, 4) for k, v in metrics.items() if "loss" in k}))
        if trainer.is_world_process_zero():
            sittings = record_sitting(training_args, started, first_step, trainer.state.global_step)
            write_pretraining_card(
                training_args.output_dir, data_args, training_args, trainer, metrics, sittings, command
            )
    return metrics


def _checkpoint_step(checkpoint: str | None) -> int:
    return int(Path(checkpoint).name.rsplit("-", 1)[1]) if checkpoint else 0


class SittingRecorder(TrainerCallback):
    """Records the sitting at every checkpoint (`record_sitting`), so that a sitting stopped by a signal or a crash
    keeps its record up to the checkpoint the next sitting resumes from."""

    def __init__(self, training_args: TrainingArguments, started: float, first_step: int):
        self.training_args, self.started, self.first_step = training_args, started, first_step

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            record_sitting(self.training_args, self.started, self.first_step, state.global_step)


def record_sitting(training_args: TrainingArguments, started: float, first_step: int, last_step: int) -> list[dict]:
    """Records this sitting (start and end time, steps, seconds, machine) in `output_dir/sittings.json`, the record
    of a run trained over several sittings: appended, or updated when this sitting (same start) is already there;
    returns every sitting recorded."""
    path = Path(training_args.output_dir) / SITTINGS_FILE
    start = datetime.datetime.fromtimestamp(started, datetime.timezone.utc).isoformat(timespec="seconds")
    sittings = [s for s in (json.loads(path.read_text()) if path.is_file() else []) if s["started"] != start]
    device = (
        "cuda: " + torch.cuda.get_device_name()
        if torch.cuda.is_available() and not training_args.use_cpu
        else (f"cpu: {os.cpu_count()} cores, {torch.get_num_threads()} torch threads")
    )
    sittings.append(
        {
            "started": start,
            "ended": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(time.time() - started, 1),
            "steps": [first_step, last_step],
            "machine": f"{platform.node() or 'unknown host'} ({platform.machine()}), {device}",
        }
    )
    write_atomically(path, json.dumps(sittings, indent=2))
    return sittings


def write_pretraining_card(
    output_dir: str,
    data_args: PretrainingDataArguments,
    training_args: TrainingArguments,
    trainer,
    metrics: dict,
    sittings: list[dict],
    command: str | None,
) -> None:
    """The model card of the pretrained model (`model_cards.write_model_card`, type `base`): what it was trained on,
    how, for how long on which machines, its validation loss per stream, and the command that ran it."""
    state, config = trainer.state, trainer.model.config
    streams = [k for k in sorted(metrics) if k.startswith("eval_pretrain/stream_")]
    losses = ", ".join(f"stream {k.rsplit('_', 2)[-2]}: {metrics[k]:.3f}" for k in streams)
    train_losses = [h["loss"] for h in state.log_history if "loss" in h]
    hours = sum(s["seconds"] for s in sittings) / 3600
    training = {
        "objective": f"BANG's cross-stream visible n-stream span masking (paper section 3), {config.ngram} predicting "
        f"streams; one span of floor({data_args.mask_ratio} x {data_args.block_size}) tokens per "
        f"{data_args.block_size}-token block, {data_args.mask_prob:.0%} [MASK] / {data_args.random_prob:.0%} random",
        "text": ", ".join(data_args.train_files or [data_args.dataset_name or ""]),
        "sequences": f"{len(trainer.train_dataset):,} chunks of at most {data_args.max_source_length} tokens"
        + (" (documents packed)" if data_args.pack_documents else ""),
        "optimizer steps": f"{state.global_step:,} of {training_args.per_device_train_batch_size} sequences "
        f"({float(state.epoch or 0):.2f} epochs)",
        "learning rate": f"{training_args.learning_rate:g}, {getattr(training_args.lr_scheduler_type, 'value', '')}, "
        f"{training_args.warmup_steps} warm-up steps, weight decay {training_args.weight_decay}",
        "dropout (residual / attention / activation)": f"{config.dropout} / {config.attention_dropout} / "
        f"{config.activation_dropout}; label smoothing {config.label_smoothing}",
        "training loss (first / last logged)": f"{train_losses[0]:.3f} / {train_losses[-1]:.3f}"
        if train_losses
        else None,
        "validation loss per stream": f"{metrics.get('eval_loss', float('nan')):.3f} ({losses})" if streams else None,
        "training time": f"{hours:.2f} hours in {len(sittings)} sitting(s): "
        + "; ".join(f"steps {s['steps'][0]}-{s['steps'][1]} on {s['machine']}" for s in sittings),
        "command": f"`{command}`" if command else None,
    }
    write_model_card(
        output_dir,
        overwrite=True,
        model_type="base",
        results=[],
        missing_results_reason="A pretrained model is not scored on a task; its validation loss per predicting stream "
        "is in the table above. Fine-tune it (`bang-finetune`, `bang-train`) for a task.",
        repo_id=training_args.hub_model_id or f"your-name/{Path(output_dir).name}",
        dataset={"name": "the training text of the pretraining table", "split": "validation"},
        training={k: v for k, v in training.items() if v is not None},
        language=["en", "fr"],
        tags=["pretraining"],
    )


__all__ = ["SITTINGS_FILE", "PretrainingDataArguments", "load_texts", "pretrain", "record_sitting"]
