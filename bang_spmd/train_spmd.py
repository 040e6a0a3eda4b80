"""Train a BANG NAR student with Self-Paced Mixed Distillation (SPMD) on (source, target, distilled targets) data.

    # 1. distilled targets from an AR teacher (bang_spmd/distill_data.py), then
    HF_HUB_OFFLINE=1 bang-train \
        --train_file outputs/wndef-distilled/train.jsonl --validation_file ../shared/data/wndef/validation.jsonl \
        --source_columns word,example --target_column definition \
        --model_name_or_path outputs/bang-pretrained --output_dir outputs/wndef-spmd \
        --mixing_strategy select --self_paced_scheme hard --max_steps 1000 --predict_with_generate
    accelerate launch --multi_gpu --num_processes 2 --use_cpu -m bang_spmd.train_spmd ...   # 2 CPU processes (gloo)

The training file holds the source and target columns and, unless `--mixing_strategy gold`, the `distilled_labels`
column written by `bang_spmd/distill_data.py` (K token-id sequences per example in the student's vocabulary). Every
SPMD option of `bang_spmd.trainers.spmd_trainer.SPMDTrainingArguments` is a flag (`--help` lists them with their
meaning; the module docstring of `trainers/spmd_trainer.py` says which parts are the paper's and which are this
package's).
Evaluation uses the gold validation targets: the NAR loss, and with `--predict_with_generate` one-pass NAR decoding
(`generate(decoding_mode="nar")`, canvas `--max_target_length`) scored with ROUGE-L F1 against the detokenized gold
targets. Resume with
`--resume_from_checkpoint PATH|auto`; the self-paced pace and the random mixing follow the global step, so a resumed
run continues the same trajectory. The model, tokenizer and `eval_results.json` are written to `--output_dir`.
"""

import json
import os
import sys
from dataclasses import dataclass, field

import datasets
import numpy as np
import transformers
from transformers import HfArgumentParser, set_seed

from bang_spmd.trainers.model_setup import (
    BangModelArguments,
    build_bang_model,
    load_tokenizer,
    resolve_resume_checkpoint,
)
from bang_spmd.trainers.seq2seq_data import DataArguments, encode_pairs, rouge_l
from bang_spmd.trainers.spmd_trainer import DISTILLED_LABELS, SPMDDataCollator, SPMDTrainer, SPMDTrainingArguments
from modeling_bang.generation_bang import collapse_repeated_words


logger = transformers.utils.logging.get_logger("train_spmd")


@dataclass
class SPMDModelArguments(BangModelArguments):
    teacher_name_or_path: str | None = field(
        default=None,
        metadata={"help": "AR teacher for the token-level KL (`--kd_weight > 0`); shares the vocabulary."},
    )


def check_distilled_labels(dataset: datasets.Dataset, vocab_size: int, max_length: int, truncate: bool, eos: int):
    """Refuses distilled labels outside the vocabulary or longer than the canvas (or truncates them, keeping [SEP])."""

    def check(batch, indices):
        rows = []
        for row, references in zip(indices, batch[DISTILLED_LABELS], strict=True):
            kept = []
            for k, ids in enumerate(references):
                if not ids or max(ids) >= vocab_size or min(ids) < 0:
                    raise ValueError(
                        f"Distilled target {k} of training example {row} is empty or has ids outside the student's "
                        f"vocabulary of {vocab_size}; distill with the student's tokenizer (--student_tokenizer)."
                    )
                if len(ids) > max_length:
                    if not truncate:
                        raise ValueError(
                            f"Distilled target {k} of training example {row} has {len(ids)} tokens, more than "
                            f"--max_target_length {max_length}; raise the limit or pass --truncate_targets."
                        )
                    ids = ids[: max_length - 1] + [eos]
                kept.append(ids)
            rows.append(kept)
        return {DISTILLED_LABELS: rows}

    return dataset.map(check, batched=True, with_indices=True, desc="Checking distilled targets")


def main(argv: list[str] | None = None) -> dict:
    parser = HfArgumentParser((SPMDModelArguments, DataArguments, SPMDTrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    transformers.utils.logging.set_verbosity(training_args.get_process_log_level())
    datasets.utils.logging.set_verbosity(training_args.get_process_log_level())
    resume = resolve_resume_checkpoint(training_args, data_args.overwrite_output_dir)
    set_seed(training_args.seed)

    tokenizer = load_tokenizer(model_args)
    model = build_bang_model(
        model_args, tokenizer, min_positions=max(data_args.max_source_length, data_args.max_target_length)
    )
    data_args.check(model.config.max_position_embeddings)
    teacher = None
    if model_args.teacher_name_or_path is not None:
        teacher = transformers.AutoModelForSeq2SeqLM.from_pretrained(
            model_args.teacher_name_or_path, trust_remote_code=True
        )
    model.generation_config.max_new_tokens = data_args.max_target_length

    uses_distilled = training_args.mixing_strategy != "gold"
    with training_args.main_process_first(desc="preprocessing"):
        train = datasets.load_dataset("json", data_files=data_args.train_file, split="train")
        if uses_distilled and DISTILLED_LABELS not in train.column_names:
            raise ValueError(
                f"--mixing_strategy {training_args.mixing_strategy} needs the `{DISTILLED_LABELS}` column, which "
                f"{data_args.train_file} lacks (columns: {train.column_names}); run bang_spmd/distill_data.py."
            )
        if data_args.max_train_samples is not None:
            train = train.select(range(min(data_args.max_train_samples, len(train))))
        keep = (DISTILLED_LABELS,) if uses_distilled else ()
        train, _ = encode_pairs(train, tokenizer, data_args, "training", keep_columns=keep)
        if uses_distilled:
            train = check_distilled_labels(
                train,
                model.config.vocab_size,
                data_args.max_target_length,
                data_args.truncate_targets,
                tokenizer.sep_token_id,
            )
        validation = None
        if data_args.validation_file is not None:
            validation = datasets.load_dataset("json", data_files=data_args.validation_file, split="train")
            if data_args.max_eval_samples is not None:
                validation = validation.select(range(min(data_args.max_eval_samples, len(validation))))
            validation, _ = encode_pairs(validation, tokenizer, data_args, "validation")

    def compute_metrics(prediction) -> dict:
        """ROUGE-L F1 of the NAR outputs against the detokenized gold targets (gathered with the predictions, so it
        is right under several processes; [UNK] pieces drop out of both sides)."""

        def decode(ids):
            return tokenizer.batch_decode(np.where(ids == -100, tokenizer.pad_token_id, ids), skip_special_tokens=True)

        texts = [collapse_repeated_words(t) for t in decode(prediction.predictions)]
        return {"rougeL_f1": rouge_l(texts, decode(prediction.label_ids))}

    trainer = SPMDTrainer(
        model=model,
        args=training_args,
        train_dataset=train.remove_columns("reference"),
        eval_dataset=validation.remove_columns("reference") if validation is not None else None,
        data_collator=SPMDDataCollator(tokenizer.pad_token_id, tokenizer.sep_token_id, data_args.max_target_length),
        processing_class=tokenizer,
        teacher_model=teacher,
        compute_metrics=compute_metrics if training_args.predict_with_generate and validation is not None else None,
    )
    train_result = trainer.train(resume_from_checkpoint=resume)
    results = {"global_step": trainer.state.global_step, "mixing_strategy": training_args.mixing_strategy}
    if validation is not None:  # before saving: with --push_to_hub, the saved model's card reports this evaluation
        metrics = trainer.evaluate()
        results.update({k: v for k, v in metrics.items() if k in ("eval_loss", "eval_rougeL_f1")})
        results["eval_samples"] = len(validation)
    trainer.save_model()
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()
    if trainer.is_world_process_zero():
        with open(os.path.join(training_args.output_dir, "eval_results.json"), "w") as f:
            json.dump(results, f, indent=2)
        print("results " + json.dumps(results))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
