"""What the training recipes share: the model and data arguments, loading a split, preparing a run, saving results.

`BangModelArguments` is a `ModelShape` (the preset and its overrides) plus where the model and its tokenizer may
come from; `DataArguments` is a `PairEncoding` (columns and lengths) plus the data files. The command lines parse
their flags into these dataclasses, and the experiment pipeline builds them directly.
"""

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import transformers
from transformers import set_seed

from bang_spmd.data.jsonl import check_jsonl_file, require_data_file
from bang_spmd.data.tasks import select_where
from bang_spmd.evaluation.metrics import VALIDATION_METRICS
from bang_spmd.pretrained import DEFAULT_MODEL, resolve_model_name
from bang_spmd.trainers.allocator import reuse_freed_memory
from bang_spmd.trainers.model_setup import (
    ModelShape,
    build_bang_model,
    check_model_folder,
    check_training_arguments,
    load_tokenizer,
    record_weight_digests,
    resolve_resume_checkpoint,
)
from bang_spmd.trainers.run_files import exclusive_lock, write_atomically
from bang_spmd.trainers.seq2seq_data import PairEncoding, encode_pairs


@dataclass
class BangModelArguments(ModelShape):
    """A saved BANG folder to start from, or the `ModelShape` of a randomly initialised model; and the tokenizer."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "The model to start from: a saved BANG folder, a Hub id, or a shipped model's name "
                          "(bang-mini). Fine-tuning default: bang-mini, unless --config_preset or an architecture "
                          "flag (--hidden_size, ...) asks for a new model."},
    )  # fmt: skip
    tokenizer_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Tokenizer folder, Hub id or shipped model name (bang-mini); default: the model folder's, "
            "else the BANG tokenizer."
        },
    )
    trust_remote_code: bool = field(
        default=False,
        metadata={"help": "Allow running the Python files of a model or tokenizer folder whose config names its own "
                          "code (auto_map). Off by default; BANG folders load without it."},
    )  # fmt: skip

    @classmethod
    def from_shape(cls, shape: ModelShape, **others) -> "BangModelArguments":
        """These arguments (or a subclass's) for `shape`, with the other fields given by keyword."""
        return cls(**shape.shape_fields(), **others)


@dataclass
class DataArguments(PairEncoding):
    """The (source, target) files of a fine-tuning or SPMD run, which of their rows are used, how their pairs are
    encoded, and the metric of the NAR validation check."""

    task: str | None = field(
        default=None,
        metadata={"help": "A task of bang_spmd.data.tasks (debtrans, debsum, wndef, ...): its columns, lengths, rows "
                          "and validation metric are the defaults of the other flags."},
    )  # fmt: skip
    train_file: str | None = field(default=None, metadata={"help": "JSON Lines training file."})
    validation_file: str | None = field(default=None, metadata={"help": "JSON Lines validation file."})
    where: str | None = field(
        default=None, metadata={"help": "Use only the rows whose COLUMN equals VALUE (COLUMN=VALUE[,...])."}
    )
    validation_metric: str = field(
        default="rougeL_f1",
        metadata={"help": f"Metric of the NAR validation decoding: one of {sorted(VALIDATION_METRICS)}."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep the first N training pairs."})
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Validation pairs used for the loss and ROUGE-L (default: all)."}
    )
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Allow writing into a non-empty output_dir."})

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("max_train_samples", "max_eval_samples"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"--{name} must be a positive integer (leave it out for every row), got {value!r}.")
        if self.validation_metric not in VALIDATION_METRICS:
            raise ValueError(
                f"--validation_metric must be one of {sorted(VALIDATION_METRICS)}, got {self.validation_metric!r}."
            )

    def check_files(self, check_row=None) -> None:
        """Reads the training and validation files before anything expensive starts: a ValueError names a missing
        or empty file and the line and column of a bad row (`bang_spmd.data.jsonl.check_jsonl_file`; `check_row`
        checks the training rows' other columns)."""
        if self.train_file is None:
            raise ValueError("--train_file is required.")
        text, optional = self.text_columns()
        check_jsonl_file(self.train_file, text, "training file (--train_file)", check_row, optional)
        if self.validation_file is not None:
            check_jsonl_file(self.validation_file, text, "validation file (--validation_file)", None, optional)

    def check(self, max_position_embeddings: int) -> None:
        """Raises a ValueError for a missing data file or a length the model's position table cannot hold."""
        if self.train_file is None:
            raise ValueError("--train_file is required.")
        if self.validation_metric not in VALIDATION_METRICS:
            raise ValueError(
                f"--validation_metric must be one of {sorted(VALIDATION_METRICS)}, got {self.validation_metric!r}."
            )
        for path in (self.train_file, self.validation_file):
            if path is not None:
                require_data_file(path)
        self.check_lengths(max_position_embeddings)


@contextlib.contextmanager
def claim_output_dir(training_args) -> Iterator[None]:
    """Holds the advisory lock of `output_dir` (the lock file `.NAME.lock` next to it, so the folder itself stays
    empty) for the run, on the main process: a second run into the same folder refuses at once with a `LockedError`
    naming the first, instead of both writing checkpoints there. The other processes wait until it is held."""
    with contextlib.ExitStack() as claim:
        with training_args.main_process_first(local=False, desc="claiming the output directory"):
            if training_args.process_index == 0:
                claim.enter_context(exclusive_lock(training_args.output_dir, "The output directory (--output_dir)"))
        yield


def start_run(training_args, overwrite_output_dir: bool) -> str | None:
    """Sets the log levels and the seed of a run, and on a CPU lets the process reuse freed memory
    (`bang_spmd.trainers.allocator`); returns the checkpoint it resumes from (or None)."""
    check_training_arguments(training_args)
    if training_args.device.type == "cpu":
        reuse_freed_memory()
    log_level = training_args.get_process_log_level()
    transformers.utils.logging.set_verbosity(log_level)
    datasets.utils.logging.set_verbosity(log_level)
    resume = resolve_resume_checkpoint(training_args, overwrite_output_dir)
    set_seed(training_args.seed)
    return resume


def starting_model(model_args: BangModelArguments, default: str | None) -> str | None:
    """The saved model a run starts from: `model_name_or_path` (a shipped model's name resolved to its folder), else
    None when the arguments describe a new model (`ModelShape.describes_new_model`), else `default` (resolved).

    A `model_name_or_path` together with architecture fields is refused (a saved model keeps its architecture)."""
    if model_args.model_name_or_path is not None:
        return resolve_model_name(model_args.model_name_or_path)
    if model_args.describes_new_model() or default is None:
        return None
    path = resolve_model_name(default)
    if not Path(path).is_dir():
        raise ValueError(
            f"The default start {default!r} is not installed ({path} is missing); pass --model_name_or_path, or "
            "--config_preset tiny to train a new model."
        )
    return path


def load_model(model_args: BangModelArguments, data_args: DataArguments, default: str | None = DEFAULT_MODEL):
    """The tokenizer and the model of a (source, target) run, checked against the data lengths; the model starts
    from `starting_model(model_args, default)`."""
    start = starting_model(model_args, default)
    if start is not None:  # before its tokenizer is read: a folder that is no BANG model is refused first
        check_model_folder(start, "--model_name_or_path", bang_only=True)
    tokenizer = load_tokenizer(
        resolve_model_name(model_args.tokenizer_name_or_path), start, model_args.trust_remote_code
    )
    model = build_bang_model(
        model_args,
        tokenizer,
        min_positions=max(data_args.max_source_length, data_args.max_target_length),
        model_name_or_path=start,
    )
    data_args.check(model.config.max_position_embeddings)
    return tokenizer, model


def load_json_split(path: str, max_samples: int | None, where: str | None = None) -> datasets.Dataset:
    """The rows of a JSON Lines file that match `where` (all when None) as a data set, the first `max_samples` of
    them only when given."""
    dataset = select_where(datasets.load_dataset("json", data_files=path, split="train"), where, path)
    if max_samples is not None:
        dataset = dataset.select(range(min(max_samples, len(dataset))))
    return dataset


def load_validation(data_args: DataArguments, tokenizer) -> datasets.Dataset | None:
    """The encoded validation pairs (`--max_eval_samples` of them), or None without `--validation_file`."""
    if data_args.validation_file is None:
        return None
    validation = load_json_split(data_args.validation_file, data_args.max_eval_samples, data_args.where)
    return encode_pairs(validation, tokenizer, data_args, "validation")[0]


def set_output_length(model, max_target_length: int, decoding_mode: str) -> None:
    """What a trained model decodes by default: `decoding_mode` and `max_new_tokens` = the training target length
    (the NAR canvas); `max_length` is cleared, so that `generate` does not warn about two length limits."""
    model.generation_config.decoding_mode = decoding_mode
    model.generation_config.max_new_tokens = max_target_length
    model.generation_config.max_length = None


def save_trained_model(trainer, train_result) -> None:
    """Saves the trained model with its tokenizer (the processing class) into `output_dir`, moved in whole
    (`StagedSavingMixin`), the sha256 of its weights (`record_weight_digests`: a later load notices a damaged file),
    the training metrics and the trainer state."""
    trainer.save_model()
    if trainer.is_world_process_zero():
        record_weight_digests(trainer.args.output_dir)
    trainer.save_metrics("train", train_result.metrics)
    trainer.save_state()


def save_results(trainer, results: dict) -> None:
    """Writes `output_dir/eval_results.json` (`write_atomically`) and prints the results (main process only)."""
    if trainer.is_world_process_zero():
        write_atomically(os.path.join(trainer.args.output_dir, "eval_results.json"), json.dumps(results, indent=2))
        print("results " + json.dumps(results))


def count_parameters(model) -> str:
    """The model's parameter count in millions, for the start message."""
    return f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M"


__all__ = [
    "DEFAULT_MODEL",
    "BangModelArguments",
    "DataArguments",
    "claim_output_dir",
    "count_parameters",
    "load_json_split",
    "load_model",
    "starting_model",
    "load_validation",
    "save_results",
    "save_trained_model",
    "set_output_length",
    "start_run",
]
