"""The steps of an SPMD experiment, each one `bang-*` command: tokenizer, AR teacher, distillation, NAR students,
evaluation. `bang-quickstart` and `bang-evidence` run them; every step prints the command it runs, so any result can
be reproduced step by step from a shell.

Every step is resumable: it skips itself when its final output exists (a training step's `eval_results.json`, the
distilled file, an evaluation's metrics file), and training steps resume from their last checkpoint. The teacher and
the students share one model shape (`ExperimentSettings`). The students start from the teacher's weights: this
package's choice for experiments without a pretrained BANG checkpoint (the paper starts every model from pretrained
BANG; here the task-trained teacher stands in for it, so every NAR variant starts from the same point).
"""

import json
import shlex
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from bang_spmd import distill_data, evaluate_generation, finetune_bang, train_spmd
from modeling_bang import train_wordpiece_tokenizer


# The NAR variants (`bang-train` flags). `nar-gold` is BANG's NAR fine-tuning; `nar-distilled` sequence-level KD
# (Kim & Rush 2016); `nar-mixed` mixed distillation alone (per sample the gold or distilled reference with the lower
# NAR loss, this package's reading of the paper's mixing); `nar-spmd` adds self-paced hard weights; `nar-spmd-linear`
# is the self-paced ablation (soft linear weights instead of hard ones).
STUDENT_OPTIONS = {
    "nar-gold": ["--mixing_strategy", "gold", "--self_paced_scheme", "none"],
    "nar-distilled": ["--mixing_strategy", "distilled", "--self_paced_scheme", "none"],
    "nar-mixed": ["--mixing_strategy", "select", "--self_paced_scheme", "none"],
    "nar-spmd": ["--mixing_strategy", "select", "--self_paced_scheme", "hard"],
    "nar-spmd-linear": ["--mixing_strategy", "select", "--self_paced_scheme", "linear"],
}


@dataclass(frozen=True)
class ExperimentSettings:
    """What the teacher and the students of one experiment share."""

    source_columns: str
    target_column: str
    max_source_length: int
    max_target_length: int
    teacher_steps: int
    student_steps: int
    teacher_mode: str = "ar"  # `ngram` trains config.ngram streams, so the teacher also decodes semi-NAR
    ngram: int = 1
    vocab_size: int = 4000
    hidden_size: int = 128
    layers: int = 3
    attention_heads: int = 4
    ffn_dim: int = 512
    batch_size: int = 32
    learning_rate: float = 1e-3
    num_beams: int = 4
    seed: int = 42
    eval_batch_size: int = 64
    init_model: str | None = None  # a saved BANG folder the teacher starts from (its shape and tokenizer win)

    def __post_init__(self):
        for name in ("teacher_steps", "student_steps", "vocab_size", "batch_size", "num_beams", "ngram"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if self.teacher_mode not in ("ar", "ngram"):
            raise ValueError(f"teacher_mode must be 'ar' or 'ngram', got {self.teacher_mode!r}.")
        if self.teacher_mode == "ngram" and self.ngram < 2:
            raise ValueError("teacher_mode='ngram' needs ngram >= 2 (ngram 1 is the AR mode).")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_namespace(cls, args, **overrides) -> "ExperimentSettings":
        """The settings named like the attributes of a command line's `args` (others keep their defaults)."""
        names = {f.name for f in fields(cls)}
        values = {name: value for name, value in vars(args).items() if name in names and value is not None}
        return cls(**{**values, **overrides})


def announce(command: str, argv: list[str]) -> None:
    print(f"\n$ {command} {shlex.join(argv)}", flush=True)


def fit_tokenizer(settings: ExperimentSettings, train_file: Path, folder: Path) -> None:
    """A WordPiece vocabulary fitted to the training split's source and target columns (`bang-train-tokenizer`
    does the same for the two shared data sets at once)."""
    if (folder / "tokenizer.json").is_file():
        return
    columns = [c.strip() for c in settings.source_columns.split(",")] + [settings.target_column]
    rows = [json.loads(line) for line in train_file.read_text(encoding="utf-8").splitlines()]
    missing = [c for c in columns if c not in rows[0]]
    if missing:
        raise ValueError(f"Column(s) {missing} are not in {train_file} (columns: {sorted(rows[0])}).")
    texts = (str(row[c]) for row in rows for c in columns if row.get(c) is not None)
    tokenizer = train_wordpiece_tokenizer(texts, vocab_size=settings.vocab_size)
    tokenizer.save_pretrained(folder)
    print(f"tokenizer: {len(tokenizer)} WordPiece pieces fitted to {train_file} -> {folder}", flush=True)


def training_flags(settings: ExperimentSettings, validation_file: Path, steps: int) -> list[str]:
    """The Trainer flags every training step shares: a checkpoint every quarter of the run (to resume), and the
    validation check at the end on at most 500 rows (the test split is scored by `evaluate`)."""
    return [
        "--source_columns", settings.source_columns, "--target_column", settings.target_column,
        "--max_source_length", str(settings.max_source_length),
        "--max_target_length", str(settings.max_target_length), "--truncate_targets",
        "--validation_file", str(validation_file), "--max_eval_samples", "500", "--max_steps", str(steps),
        "--per_device_train_batch_size", str(settings.batch_size),
        "--per_device_eval_batch_size", str(settings.eval_batch_size),
        "--learning_rate", str(settings.learning_rate), "--warmup_steps", str(max(1, steps // 10)),
        "--seed", str(settings.seed), "--report_to", "none", "--logging_steps", str(max(1, steps // 10)),
        "--save_strategy", "steps", "--save_steps", str(max(1, steps // 4)), "--save_total_limit", "1",
        "--dataloader_num_workers", "0", "--resume_from_checkpoint", "auto",
    ]  # fmt: skip


def train_teacher(
    settings: ExperimentSettings, train_file: Path, validation_file: Path, tokenizer: Path, folder: Path
) -> None:
    """BANG fine-tuned in AR mode (or `ngram` mode: AR plus semi-NAR), from random initialisation with the settings'
    shape and `tokenizer`, or from `settings.init_model` (a pretrained or converted BANG folder with its tokenizer)."""
    if (folder / "eval_results.json").is_file():
        return
    if settings.init_model is not None:
        model = ["--model_name_or_path", settings.init_model]
    else:
        model = [
            "--config_preset", "tiny", "--tokenizer_name_or_path", str(tokenizer),
            "--hidden_size", str(settings.hidden_size), "--encoder_layers", str(settings.layers),
            "--decoder_layers", str(settings.layers), "--encoder_attention_heads", str(settings.attention_heads),
            "--decoder_attention_heads", str(settings.attention_heads), "--encoder_ffn_dim", str(settings.ffn_dim),
            "--decoder_ffn_dim", str(settings.ffn_dim),
        ]  # fmt: skip
    argv = [
        "--mode", settings.teacher_mode, "--ngram", str(settings.ngram), *model, "--train_file", str(train_file),
        "--output_dir", str(folder), *training_flags(settings, validation_file, settings.teacher_steps),
    ]  # fmt: skip
    announce("bang-finetune", argv)
    finetune_bang.main(argv)


def distill(settings: ExperimentSettings, teacher: Path, train_file: Path, output_file: Path) -> None:
    """The teacher's best beam for every training source (K = 1), in the students' (= the teacher's) vocabulary."""
    if output_file.is_file():
        return
    argv = [
        "--teacher", str(teacher), "--data_file", str(train_file), "--source_columns", settings.source_columns,
        "--target_column", settings.target_column, "--max_source_length", str(settings.max_source_length),
        "--num_distilled", "1", "--num_beams", str(settings.num_beams),
        "--max_new_tokens", str(settings.max_target_length - 1), "--batch_size", str(settings.eval_batch_size),
        "--cache_dir", str(output_file.parent / "distillation_cache"), "--output_file", str(output_file),
    ]  # fmt: skip
    announce("bang-distill", argv)
    distill_data.main(argv)


def train_student(
    settings: ExperimentSettings,
    variant: str,
    teacher: Path,
    train_file: Path,
    validation_file: Path,
    folder: Path,
) -> None:
    """One NAR variant of `STUDENT_OPTIONS`, initialised from the teacher, evaluated on validation by NAR decoding."""
    if variant not in STUDENT_OPTIONS:
        raise ValueError(f"Unknown student variant {variant!r}; choose from {sorted(STUDENT_OPTIONS)}.")
    if (folder / "eval_results.json").is_file():
        return
    argv = [
        "--model_name_or_path", str(teacher), "--train_file", str(train_file), "--output_dir", str(folder),
        *STUDENT_OPTIONS[variant], "--predict_with_generate",
        *training_flags(settings, validation_file, settings.student_steps),
    ]  # fmt: skip
    announce("bang-train", argv)
    train_spmd.main(argv)


def evaluate(
    settings: ExperimentSettings,
    model: Path,
    data_file: Path,
    decoding: list[str],
    name: str,
    batch_size: int | None = None,
    max_samples: int | None = None,
) -> dict:
    """`bang-evaluate` of `model` with the `decoding` flags; predictions go to `model/<name>.jsonl` and the metrics
    to `model/<name>.metrics.json`, which is read back instead of decoding again when it exists."""
    metrics_file = model / f"{name}.metrics.json"
    if metrics_file.is_file():
        return json.loads(metrics_file.read_text())
    argv = [
        "--model", str(model), "--data_file", str(data_file), "--source_columns", settings.source_columns,
        "--target_column", settings.target_column, "--max_source_length", str(settings.max_source_length),
        "--max_new_tokens", str(settings.max_target_length),
        "--batch_size", str(batch_size or settings.eval_batch_size), "--output_file", str(model / f"{name}.jsonl"),
        *decoding,
    ]  # fmt: skip
    if max_samples is not None:
        argv += ["--max_samples", str(max_samples)]
    announce("bang-evaluate", argv)
    result = evaluate_generation.main(argv)
    metrics_file.write_text(json.dumps(result, indent=2))
    return result
