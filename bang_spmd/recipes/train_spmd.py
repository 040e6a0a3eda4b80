"""Train a BANG NAR student with Self-Paced Mixed Distillation (SPMD): `train_spmd(...)`.

The training file holds the source and target columns and, unless `mixing_strategy="gold"`, the `distilled_labels`
column written by `distill` (K token-id sequences per example in the student's vocabulary). Every SPMD option is a
field of `bang_spmd.trainers.SPMDTrainingArguments` (the module docstring of `trainers/spmd_trainer.py` says which
parts are the paper's and which are this package's). The student is set to decode NAR (`as_nar_student`) before
training. Evaluation uses the gold validation targets: the NAR loss, and with `predict_with_generate` one-pass NAR
decoding (`generate(decoding_mode="nar")`, canvas `max_target_length`) scored with `validation_metric` (default ROUGE-L
F1, `bang_spmd.evaluation.rouge_l`) against the detokenized gold targets. Resuming (`resume_from_checkpoint`) continues
the same trajectory: the self-paced pace and the random mixing follow the global step. The model, tokenizer and
`eval_results.json` are written to `output_dir`.
"""

from dataclasses import dataclass, field

import transformers

from bang_spmd.evaluation.metrics import validation_metric
from bang_spmd.trainers import spmd_trainer
from bang_spmd.trainers.model_setup import load_pretrained_model
from bang_spmd.trainers.run_files import naming_write_failures
from bang_spmd.trainers.seq2seq_data import encode_pairs
from bang_spmd.trainers.spmd_trainer import DISTILLED_LABELS, SPMDTrainingArguments
from bang_spmd.trainers.validation import nar_generation_metrics

from . import common
from .common import BangModelArguments, DataArguments


logger = transformers.utils.logging.get_logger(__name__)


@dataclass
class SPMDModelArguments(BangModelArguments):
    teacher_name_or_path: str | None = field(
        default=None,
        metadata={"help": "AR teacher for the token-level KL (`--kd_weight > 0`); shares the vocabulary."},
    )


def train_spmd(model_args: SPMDModelArguments, data_args: DataArguments, training_args: SPMDTrainingArguments) -> dict:
    """Trains the NAR student, evaluates it, saves it; returns the results (module docstring)."""
    with common.claim_output_dir(training_args):
        return _train_spmd(model_args, data_args, training_args)


def _train_spmd(
    model_args: SPMDModelArguments, data_args: DataArguments, training_args: SPMDTrainingArguments
) -> dict:
    resume = common.start_run(training_args, data_args.overwrite_output_dir)
    uses_distilled = training_args.mixing_strategy != "gold"
    columns = data_args.columns()
    data_args.check_files(spmd_trainer.DistilledFileCheck(columns) if uses_distilled else None)
    tokenizer, model = common.load_model(model_args, data_args)
    teacher = None
    if model_args.teacher_name_or_path is not None:
        teacher = load_pretrained_model(
            model_args.teacher_name_or_path, "--teacher_name_or_path", model_args.trust_remote_code
        )
    spmd_trainer.as_nar_student(model)
    common.set_output_length(model, data_args.max_target_length, "nar")

    with training_args.main_process_first(desc="preprocessing"):
        train = common.load_json_split(data_args.train_file, None, data_args.where)
        if uses_distilled and DISTILLED_LABELS not in train.column_names:
            raise ValueError(
                f"--mixing_strategy {training_args.mixing_strategy} needs the `{DISTILLED_LABELS}` column, which "
                f"{data_args.train_file} lacks (columns: {train.column_names}); run bang-distill."
            )
        if data_args.max_train_samples is not None:
            train = train.select(range(min(data_args.max_train_samples, len(train))))
        keep = (DISTILLED_LABELS,) if uses_distilled else ()
        train, _ = encode_pairs(train, tokenizer, data_args, "training", keep_columns=keep)
        if uses_distilled:
            train = spmd_trainer.check_distilled_labels(
                train,
                model.config.vocab_size,
                data_args.max_target_length,
                data_args.truncate_targets,
                tokenizer.sep_token_id,
            )
        validation = common.load_validation(data_args, tokenizer)

    with_generation = training_args.predict_with_generate and validation is not None
    trainer = spmd_trainer.SPMDTrainer(
        model=model,
        args=training_args,
        train_dataset=train.remove_columns("reference"),
        eval_dataset=validation.remove_columns("reference") if validation is not None else None,
        data_collator=spmd_trainer.SPMDDataCollator(
            tokenizer.pad_token_id, tokenizer.sep_token_id, data_args.max_target_length
        ),
        processing_class=tokenizer,
        teacher_model=teacher,
        compute_metrics=(
            nar_generation_metrics(tokenizer, validation_metric(data_args.validation_metric))
            if with_generation
            else None
        ),
    )
    train_result = trainer.train(resume_from_checkpoint=resume)
    results = {"global_step": trainer.state.global_step, "mixing_strategy": training_args.mixing_strategy}
    if validation is not None:  # before saving: with --push_to_hub, the saved model's card reports this evaluation
        metrics = trainer.evaluate()
        results.update({k: v for k, v in metrics.items() if k in ("eval_loss", f"eval_{data_args.validation_metric}")})
        results["eval_samples"] = len(validation)
    common.set_output_length(model, data_args.max_target_length, "nar")  # the Trainer rebuilds the config
    with naming_write_failures(training_args.output_dir, f"into the output directory {training_args.output_dir}"):
        common.save_trained_model(trainer, train_result)
        common.save_results(trainer, results)
    return results


__all__ = ["SPMDModelArguments", "train_spmd"]
