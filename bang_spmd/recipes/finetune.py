"""Fine-tune BANG on (source, target) pairs in AR, NAR or n-stream (semi-NAR) mode: `finetune(...)`.

Modes (BANG, Qi et al., ICML 2021, section 3; official fine-tuning in `bang/bang/bang_AR_NAR_mixed.py` and
`criterion_Ngram_NAR_mixed.py`):
* `ar`: teacher-forced main stream plus one predicting stream (official AR fine-tuning).
* `nar`: the official NAR flow, a canvas of masks with no main stream; the model learns to emit `[SEP]` after the
  answer. After training, the validation set is decoded in one pass (`model.generate(decoding_mode="nar")`,
  canvas length `max_target_length`, official post-processing) and scored with `validation_metric` (default ROUGE-L
  F1 without stemming, `bang_spmd.evaluation.rouge_l`; BLEU `bleu4` or `chrf` for translation).
* `ngram`: semi-NAR fine-tuning, this package's choice (no semi-NAR code was released): all `config.ngram`
  predicting streams are trained on the target with `target_span_index` = the position index (the model's default),
  so stream s learns to predict y_t with the s previous target tokens hidden, for every t >= s. This is the
  pretraining objective applied to the whole target as one span, and gives the blockwise semi-NAR decoding (k tokens
  per step from streams 0..k-1) a model trained for it. `ngram` changes the number of streams. The loss is the
  model's mean over every stream's trained tokens, per micro-batch (the Trainer's label-based token count would not
  count the streams).

Data: JSON Lines files with the source and target columns of `DataArguments` (see `bang_spmd.trainers.PairEncoding`).
Model: `model_name_or_path` (a saved folder, e.g. from `pretrain`, whose tokenizer is used; default: the shipped
pretrained BANG-mini, `bang_spmd.pretrained`), or the `ModelShape` of a
randomly initialised model (for comparisons). Results (validation loss, and the validation metric for `nar`) are
printed and saved to `output_dir/eval_results.json`; NAR predictions go to `output_dir/nar_predictions.jsonl`.
"""

import json
import os
from dataclasses import dataclass, field

import transformers
from transformers import TrainingArguments

from bang_spmd.evaluation.metrics import validation_metric
from bang_spmd.trainers.recipe import BangTrainer
from bang_spmd.trainers.run_files import naming_write_failures, write_atomically
from bang_spmd.trainers.seq2seq_data import Seq2SeqCollator, encode_pairs
from bang_spmd.trainers.validation import decode_nar
from modeling_bang import DECODER_MODES

from . import common
from .common import BangModelArguments, DataArguments


logger = transformers.utils.logging.get_logger(__name__)


@dataclass
class FinetuneModelArguments(BangModelArguments):
    mode: str = field(default="nar", metadata={"help": "Decoder flow trained: `ar`, `nar` or `ngram` (semi-NAR)."})


def finetune(model_args: FinetuneModelArguments, data_args: DataArguments, training_args: TrainingArguments) -> dict:
    """Trains, saves the model and tokenizer to `output_dir`, evaluates; returns the results (module docstring)."""
    with common.claim_output_dir(training_args):
        return _finetune(model_args, data_args, training_args)


def _finetune(model_args: FinetuneModelArguments, data_args: DataArguments, training_args: TrainingArguments) -> dict:
    if model_args.mode not in DECODER_MODES:
        raise ValueError(f"--mode must be one of {DECODER_MODES}, got {model_args.mode!r}.")
    resume = common.start_run(training_args, data_args.overwrite_output_dir)
    data_args.check_files()
    tokenizer, model = common.load_model(model_args, data_args)
    start_path = common.starting_model(model_args, common.DEFAULT_MODEL)
    start = f"from {start_path}" if start_path else "from random initialisation"
    print(
        f"Fine-tuning BANG ({common.count_parameters(model)} parameters, ngram={model.config.ngram}) in "
        f"{model_args.mode!r} mode {start}"
    )

    with training_args.main_process_first(desc="preprocessing"):
        train = common.load_json_split(data_args.train_file, data_args.max_train_samples, data_args.where)
        train, _ = encode_pairs(train, tokenizer, data_args, "training")
        validation = common.load_validation(data_args, tokenizer)

    trainer = BangTrainer(
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
    common.set_output_length(model, data_args.max_target_length, "nar" if model_args.mode == "nar" else "ar")
    with naming_write_failures(training_args.output_dir, f"into the output directory {training_args.output_dir}"):
        common.save_trained_model(trainer, train_result)

        results = {"mode": model_args.mode, "global_step": trainer.state.global_step}
        if validation is not None:
            results["eval_loss"] = trainer.evaluate()["eval_loss"]
            results["eval_samples"] = len(validation)
            if model_args.mode == "nar" and trainer.is_world_process_zero():
                results.update(_nar_validation(trainer, tokenizer, validation, data_args, training_args))
        common.save_results(trainer, results)
    return results


def _nar_validation(trainer, tokenizer, validation, data_args: DataArguments, training_args) -> dict:
    """One-pass NAR decoding of the validation pairs, scored with `validation_metric`; the predictions are saved."""
    predictions = decode_nar(
        trainer.model,
        tokenizer,
        validation,
        data_args.max_target_length,
        training_args.per_device_eval_batch_size,
        training_args.device,
    )
    references = list(validation["reference"])
    write_atomically(
        os.path.join(training_args.output_dir, "nar_predictions.jsonl"),
        (json.dumps({"prediction": p, "reference": r}) + "\n" for p, r in zip(predictions, references, strict=True)),
    )
    scores = validation_metric(data_args.validation_metric)(predictions, references)
    return {**scores, "canvas_length": data_args.max_target_length}


__all__ = ["FinetuneModelArguments", "finetune"]
