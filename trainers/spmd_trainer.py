"""Self-Paced Mixed Distillation (SPMD) for BANG's NAR flow: training arguments, data collator and trainer.

SPMD (Qi et al., 2022, arXiv 2205.11162) trains BANG's NAR decoder on a mix of gold targets and targets distilled
from BANG's AR side ("mixed distillation based on the AR stream knowledge") and uses self-paced learning so that the
model first fits the samples "with the same modality" it can already model; inference stays plain NAR. The paper
fixes only these two ideas (this package's reading of arXiv 2205.11162); every rule below that goes further is one of
this package's options, documented as such:

* references: each example has its gold target (reference 0) and K distilled targets (`distilled_labels`, written by
  `distillation.distill_dataset`); `mixing_strategy` picks the reference weights per sample
  (`spmd_objectives.reference_weights`): gold only (BANG's NAR baseline), distilled only (sequence-level
  KD, Kim & Rush 2016), a random mix with a ratio and schedule, the average over references, or the reference with
  the lowest current NAR loss (the model's own mode, this package's reading of "the same modality");
* self-paced weights (`self_paced_weights`): hard (Kumar et al. 2010), linear, logarithmic or mixture (Jiang et al.
  2014) weights of the detached per-sample losses, with a threshold that is the pace's quantile of the batch's
  losses, so the pace admits a growing fraction of samples (`pace_fraction`) and is scale-free;
* optional token-level AR-stream knowledge: KL between a teacher's teacher-forced AR distribution and the NAR
  distribution on the chosen reference (`kd_weight`, `kd_temperature`; needs `teacher_model`);
* optional joint AR + NAR training of one model, the official `nar_ratio` mix: each micro-batch trains AR on the
  gold target with probability 1 - nar_ratio.

Cost: one NAR forward per example whatever the number of references. A NAR canvas holds only [MASK] tokens, so the
prediction does not depend on the target: the gold and distilled references of a source are all scored against the
same logits (`multi_reference_token_loss`, one pass over the vocabulary), and a SPMD step costs about what a plain NAR
step costs. Scoring every reference under the same dropout noise is this package's choice (the papers do not say);
it also means a selection rule compares references on one prediction. All random draws are seeded by (seed, global
step, micro-batch, process), and the pace is a function of the global step, so a run resumed from a checkpoint
follows the uninterrupted run exactly.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import datasets
import torch
from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments
from transformers.utils import logging

from bang_spmd.model_cards import write_trainer_model_card
from modeling_bang.modeling_bang import multi_reference_token_loss

from .distillation import DISTILLED_HASH_COLUMN, OLD_SOURCE_HASH_COLUMN, distilled_sha256
from .recipe import BangRecipeDefaults, BangTrainerMixin
from .spmd_objectives import (
    MIX_SCHEDULES,
    MIXING_STRATEGIES,
    PACE_CRITERIA,
    PACE_SHAPES,
    SELECTION_RULES,
    WEIGHTING_SCHEMES,
    combine_sample_losses,
    mix_ratio_at,
    pace_fraction,
    prediction_overlap,
    reference_weights,
    select_by_overlap,
    self_paced_weights,
    token_kl_divergence,
)


logger = logging.get_logger(__name__)

DISTILLED_LABELS = "distilled_labels"
SPMD_COLUMNS = ("input_ids", "attention_mask", "labels", DISTILLED_LABELS)


@dataclass
class SPMDTrainingArguments(BangRecipeDefaults, Seq2SeqTrainingArguments):
    """`Seq2SeqTrainingArguments` with BANG's recipe as defaults (`bang_spmd.trainers.recipe`) plus SPMD's options
    (module docstring); every value is validated."""

    mixing_strategy: str = field(
        default="select",
        metadata={"help": f"Reference weights per sample: one of {MIXING_STRATEGIES} (gold = BANG's NAR baseline)."},
    )
    distilled_ratio: float = field(
        default=0.5, metadata={"help": "`random_mix`: probability of training a sample on a distilled reference."}
    )
    distilled_ratio_end: float | None = field(
        default=None, metadata={"help": "`random_mix` with `mix_schedule=linear`: the ratio at the last step."}
    )
    mix_schedule: str = field(default="constant", metadata={"help": f"Schedule of the ratio: one of {MIX_SCHEDULES}."})
    selection_rule: str = field(
        default="loss",
        metadata={
            "help": f"`select`: {SELECTION_RULES}; `loss` takes the reference with the lowest NAR loss, "
            "`prediction_overlap` the one whose n-grams the student's one-pass NAR prediction shares most."
        },
    )
    pace_by: str = field(
        default="loss",
        metadata={
            "help": f"What the self-paced weights rank samples by: {PACE_CRITERIA}; `agreement` uses 1 - the n-gram "
            "overlap of the student's NAR prediction with the chosen reference."
        },
    )
    self_paced_scheme: str = field(
        default="hard", metadata={"help": f"Self-paced weights: one of {WEIGHTING_SCHEMES} (none = no self-pacing)."}
    )
    pace_start_fraction: float = field(
        default=0.5, metadata={"help": "Fraction of each batch admitted at step 0 (in (0, 1])."}
    )
    pace_end_point: float = field(
        default=0.5, metadata={"help": "Share of max_steps after which every sample is admitted (in (0, 1])."}
    )
    pace_shape: str = field(default="linear", metadata={"help": f"Growth of the admitted fraction: {PACE_SHAPES}."})
    mixture_low: float = field(
        default=0.5, metadata={"help": "`mixture` weights: weight 1 below this share of the threshold (in (0, 1))."}
    )
    log_zeta: float = field(default=0.5, metadata={"help": "`logarithmic` weights: zeta in (0, 1)."})
    kd_weight: float = field(
        default=0.0, metadata={"help": "Weight of the token-level KL to the AR teacher (0 = off; needs a teacher)."}
    )
    kd_temperature: float = field(default=1.0, metadata={"help": "Softmax temperature of the token-level KL (> 0)."})
    nar_ratio: float = field(
        default=1.0, metadata={"help": "Probability that a step trains NAR (else AR on gold); official `nar_ratio`."}
    )

    def __post_init__(self):
        super().__post_init__()
        choices = {
            "mixing_strategy": MIXING_STRATEGIES,
            "mix_schedule": MIX_SCHEDULES,
            "self_paced_scheme": WEIGHTING_SCHEMES,
            "pace_shape": PACE_SHAPES,
            "selection_rule": SELECTION_RULES,
            "pace_by": PACE_CRITERIA,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"`{name}` must be one of {allowed}, got {getattr(self, name)!r}.")
        closed_unit = {"distilled_ratio": self.distilled_ratio, "nar_ratio": self.nar_ratio}
        if self.distilled_ratio_end is not None:
            closed_unit["distilled_ratio_end"] = self.distilled_ratio_end
        for name, value in closed_unit.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"`{name}` must be in [0, 1], got {value!r}.")
        for name in ("pace_start_fraction", "pace_end_point"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"`{name}` must be in (0, 1], got {getattr(self, name)!r}.")
        for name in ("mixture_low", "log_zeta"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"`{name}` must be in (0, 1), got {getattr(self, name)!r}.")
        if self.kd_weight < 0:
            raise ValueError(f"`kd_weight` must be >= 0, got {self.kd_weight!r}.")
        if not self.kd_temperature > 0:
            raise ValueError(f"`kd_temperature` must be > 0, got {self.kd_temperature!r}.")
        if self.mix_schedule == "linear" and self.distilled_ratio_end is None:
            raise ValueError("`mix_schedule=linear` needs `distilled_ratio_end`.")


class SPMDDataCollator:
    """Pads sources, gold labels and distilled labels of tokenized examples into one batch.

    Features hold `input_ids` (source ids ending with `[SEP]`), `labels` (`y1 .. yn [SEP]`) and, for SPMD,
    `distilled_labels` (a list of K such sequences). Gold and distilled labels are padded with -100 to one length T
    (the NAR canvas); `distilled_labels` is (batch, K, T). An empty distilled target (just `[SEP]`) is refused, since
    it would teach the NAR model to stop at once; an example with fewer than K distilled targets gets all -100 rows
    (that reference is then unavailable for it). An empty batch, an example without `input_ids` or `labels`, ids
    that are not non-negative integers (floats, strings, -100 inside a target) and `distilled_labels` that are not
    a non-empty list of id lists are ValueErrors naming the example.
    """

    def __init__(self, pad_token_id: int, eos_token_id: int, max_target_length: int | None = None):
        self.pad_token_id = pad_token_id
        self.eos_token_id = eos_token_id
        self.max_target_length = max_target_length

    def _check_target(self, ids: list[int], what: str) -> None:
        if not ids:
            raise ValueError(f"{what} is empty.")
        if self.max_target_length is not None and len(ids) > self.max_target_length:
            raise ValueError(f"{what} has {len(ids)} tokens, more than max_target_length={self.max_target_length}.")

    def _check_ids(self, ids, what: str) -> list[int]:
        """`ids` as a list of non-negative integer token ids; a ValueError naming `what` otherwise (a string, float
        ids, -100 padding or negative ids in a target)."""
        if isinstance(ids, str) or not hasattr(ids, "__iter__"):
            raise ValueError(f"{what} must be a list of token ids, got {type(ids).__name__} {ids!r:.60}.")
        if isinstance(ids, torch.Tensor):
            if ids.is_floating_point() or ids.dtype == torch.bool:
                raise ValueError(f"{what} must hold integer token ids, got a {ids.dtype} tensor.")
            ids = ids.tolist()
        ids = list(ids)
        bad = [x for x in ids if isinstance(x, bool) or not isinstance(x, int) or x < 0]
        if bad:
            raise ValueError(
                f"{what} must hold non-negative integer token ids (no -100 padding), got {bad[0]!r} in {ids[:8]}."
            )
        return ids

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if isinstance(features, dict) or not isinstance(features, list | tuple):
            raise ValueError(f"SPMDDataCollator takes a list of examples (dicts), got {type(features).__name__}.")
        if not features:
            raise ValueError("SPMDDataCollator got an empty batch (no examples).")
        for name in ("input_ids", "labels"):
            missing = [i for i, f in enumerate(features) if not isinstance(f, Mapping) or name not in f]
            if missing:
                raise ValueError(f"Examples {missing[:5]} have no `{name}` column; tokenize the data first.")
        for i, f in enumerate(features):
            if not self._check_ids(f["input_ids"], f"The input_ids of batch example {i}"):
                raise ValueError(f"The input_ids of batch example {i} are empty.")
        with_distilled = DISTILLED_LABELS in features[0]
        if any((DISTILLED_LABELS in f) != with_distilled for f in features):
            raise ValueError(f"Some examples of the batch have `{DISTILLED_LABELS}` and others do not.")
        targets = []
        for i, f in enumerate(features):
            gold = self._check_ids(f["labels"], f"The labels (gold target) of batch example {i}")
            self._check_target(gold, f"The gold target of batch example {i}")
            references = [gold]
            distilled_targets = f.get(DISTILLED_LABELS)
            if with_distilled and (isinstance(distilled_targets, str) or not distilled_targets):
                raise ValueError(
                    f"The {DISTILLED_LABELS} of batch example {i} must be a non-empty list of token-id lists, got "
                    f"{distilled_targets!r:.60}."
                )
            for k, distilled in enumerate(distilled_targets or []):
                distilled = self._check_ids(distilled, f"Distilled target {k} of batch example {i}")
                self._check_target(distilled, f"Distilled target {k} of batch example {i}")
                if distilled == [self.eos_token_id]:
                    raise ValueError(
                        f"Distilled target {k} of batch example {i} is empty (only [SEP]); drop or regenerate it."
                    )
                references.append(distilled)
            targets.append(references)
        num_distilled = max(len(r) for r in targets) - 1
        length = max(len(t) for r in targets for t in r)
        source_length = max(len(f["input_ids"]) for f in features)
        input_ids = torch.full((len(features), source_length), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(features), 1 + num_distilled, length), -100, dtype=torch.long)
        for i, (f, references) in enumerate(zip(features, targets, strict=True)):
            input_ids[i, : len(f["input_ids"])] = torch.tensor(list(f["input_ids"]), dtype=torch.long)
            for r, ids in enumerate(references):
                labels[i, r, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        batch = {
            "input_ids": input_ids,
            "attention_mask": input_ids.ne(self.pad_token_id).long(),
            "labels": labels[:, 0],
        }
        if with_distilled:
            batch[DISTILLED_LABELS] = labels[:, 1:]
        return batch


def check_distilled_value(value, where: str) -> None:
    """A ValueError naming `where` unless `value` is what `distilled_labels` holds: a non-empty list of non-empty
    lists of non-negative integer ids (`[]` would silently train the gold target only; a string or numbers are no
    targets)."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError(
            f"{where}: {DISTILLED_LABELS} must be a list of token-id lists (as bang-distill writes), got "
            f"{type(value).__name__} {value!r:.60}."
        )
    if not value:
        raise ValueError(
            f"{where}: {DISTILLED_LABELS} is empty ([]), so the row has no distilled target; distil it again, or "
            "train with --mixing_strategy gold."
        )
    for k, ids in enumerate(value):
        if isinstance(ids, str) or not isinstance(ids, list | tuple) or not ids:
            raise ValueError(f"{where}: distilled target {k} must be a non-empty list of token ids, got {ids!r:.60}.")
        bad = [x for x in ids if isinstance(x, bool) or not isinstance(x, int) or x < 0]
        if bad:
            raise ValueError(
                f"{where}: distilled target {k} must hold non-negative integer token ids, got {bad[0]!r}."
            )


def check_distilled_row(where: str, row: dict, source_columns: list[str]) -> None:
    """Checks one row of an SPMD training file (`where` names it, e.g. `train.jsonl:3`): its `distilled_labels`
    (`check_distilled_value`) and that they sit next to the source they were distilled from: `distilled_sha256`
    (written by bang-distill) must equal `distilled_sha256(...)` of the row's `source_columns` and
    `distilled_labels`. A mismatch means rows, or only their distilled columns, were rotated or mixed, a source or a
    label was edited, or the file is read with other source columns than bang-distill's; a ValueError says so.

    A row of an earlier bang-distill (`distilled_source_sha256`, the hash of the source alone) is refused too: that
    hash does not see targets moved between rows, the silent failure the new one exists for, and writing the file
    again costs no decoding (bang-distill reads its cache when the teacher, data and settings are unchanged)."""
    if DISTILLED_LABELS not in row:
        raise ValueError(f"{where}: no {DISTILLED_LABELS} column; run bang-distill (or --mixing_strategy gold).")
    check_distilled_value(row[DISTILLED_LABELS], where)
    recorded = row.get(DISTILLED_HASH_COLUMN)
    if not isinstance(recorded, str) and OLD_SOURCE_HASH_COLUMN in row:
        raise ValueError(
            f"{where}: written by an earlier bang-distill, whose {OLD_SOURCE_HASH_COLUMN} covers the source only, so "
            f"targets moved to another row would go unnoticed; run bang-distill again on the original data file "
            f"(with the same --cache_dir it reads its cache and decodes nothing) to write {DISTILLED_HASH_COLUMN}."
        )
    if not isinstance(recorded, str):
        raise ValueError(
            f"{where}: no {DISTILLED_HASH_COLUMN} (the sha256 of the source and its distilled targets, which "
            "bang-distill writes); distil the file with bang-distill."
        )
    if recorded != distilled_sha256([row.get(c) for c in source_columns], row[DISTILLED_LABELS]):
        raise ValueError(
            f"{where}: the source (columns {source_columns}) and the distilled targets are not the pair bang-distill "
            f"wrote ({DISTILLED_HASH_COLUMN} differs): rows or their distilled columns rotated or mixed, a source or "
            "a target edited, or other --source_columns than bang-distill's."
        )


class DistilledFileCheck:
    """The row check of an SPMD training file (`DataArguments.check_files(check_row)`): `check_distilled_row` on
    every row, and the number of distilled targets of the file's first row in every other row. Rows with different
    numbers come from different distillations (another `--num_distilled`, files joined), and the trainer would mix
    a different number of references per example without a sign; a ValueError names the row (`file:line`), the
    number found and the number expected."""

    def __init__(self, source_columns: list[str]):
        self.source_columns = list(source_columns)
        self.first: tuple[str, int] | None = None  # (where, number of distilled targets) of the first row

    def __call__(self, where: str, row: dict) -> None:
        check_distilled_row(where, row, self.source_columns)
        count = len(row[DISTILLED_LABELS])
        if self.first is None:
            self.first = (where, count)
        elif count != self.first[1]:
            raise ValueError(
                f"{where}: {count} distilled target(s), but the file's first row ({self.first[0]}) has "
                f"{self.first[1]}; every row needs the same number (bang-distill --num_distilled): the file mixes "
                "rows of different distillations."
            )


def check_distilled_labels(
    dataset: datasets.Dataset, vocab_size: int, max_length: int, truncate: bool, eos_token_id: int
) -> datasets.Dataset:
    """Refuses distilled labels outside the vocabulary or longer than the canvas (or truncates them, keeping [SEP]).

    Returns `dataset` with its `distilled_labels` checked (and, with `truncate`, cut to `max_length` tokens ending
    with `eos_token_id`); raises a ValueError naming the first bad target otherwise.
    """

    def check(batch, indices):
        rows = []
        for row, references in zip(indices, batch[DISTILLED_LABELS], strict=True):
            check_distilled_value(references, f"Training example {row}")
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
                    ids = ids[: max_length - 1] + [eos_token_id]
                kept.append(ids)
            rows.append(kept)
        return {DISTILLED_LABELS: rows}

    return dataset.map(check, batched=True, with_indices=True, desc="Checking distilled targets")


def as_nar_student(model: torch.nn.Module) -> torch.nn.Module:
    """Sets `config.default_mode` and `generation_config.decoding_mode` to "nar", what `SPMDTrainer` requires of its
    model (evaluation losses and `predict_with_generate` then use the NAR flow, and the saved student decodes NAR by
    default); returns the model."""
    model.config.default_mode = "nar"
    model.generation_config.decoding_mode = "nar"
    return model


class SPMDTrainer(BangTrainerMixin, Seq2SeqTrainer):
    """`Seq2SeqTrainer` that trains BANG's NAR flow with self-paced mixed distillation (module docstring).

    Use it like any `Seq2SeqTrainer`, with `SPMDTrainingArguments`, `SPMDDataCollator` and a data set holding
    `input_ids`, `labels` and (unless `mixing_strategy="gold"`) `distilled_labels`. `teacher_model` (a BANG or any
    seq2seq model sharing the student's vocabulary, run teacher-forced in AR mode) is needed only for `kd_weight > 0`.
    Logged every `logging_steps` (means since the last log): `spmd/nar_loss`, `spmd/kd_loss`, `spmd/ar_loss`,
    `spmd/pace_fraction`, `spmd/admitted_fraction`, `spmd/mean_weight`, `spmd/threshold`, `spmd/distilled_share`,
    `spmd/distilled_ratio`, `spmd/ar_step_share`, and with distilled references `spmd/gold_loss`,
    `spmd/distilled_loss`, `spmd/loss_gap` (and `spmd/gold_overlap`, `spmd/distilled_overlap`,
    `spmd/chosen_overlap` when the student's prediction is scored).
    """

    # Card metadata, declared as TRL's trainers declare theirs; `create_model_card` hands it to the one card writer.
    _name = "SPMD"
    _tag_names = ("spmd", "knowledge-distillation")  # the tags of an SPMD student's card (not of the gold baseline)
    _paper = {"title": "A Self-Paced Mixed Distillation Method for Non-Autoregressive Generation", "id": "2205.11162"}
    _baseline_objective = "NAR on the gold targets (BANG's NAR baseline)"
    # The options shown in the card's training table, each with the condition under which it applies.
    _card_options: tuple[tuple[str, Callable[[SPMDTrainingArguments], bool]], ...] = (
        ("mixing_strategy", lambda a: True),
        ("distilled_ratio", lambda a: a.mixing_strategy == "random_mix"),
        ("mix_schedule", lambda a: a.mixing_strategy == "random_mix"),
        ("distilled_ratio_end", lambda a: a.mixing_strategy == "random_mix" and a.mix_schedule == "linear"),
        ("selection_rule", lambda a: a.mixing_strategy == "select"),
        ("self_paced_scheme", lambda a: True),
        ("pace_by", lambda a: a.self_paced_scheme != "none"),
        ("pace_start_fraction", lambda a: a.self_paced_scheme != "none"),
        ("pace_end_point", lambda a: a.self_paced_scheme != "none"),
        ("pace_shape", lambda a: a.self_paced_scheme != "none"),
        ("mixture_low", lambda a: a.self_paced_scheme == "mixture"),
        ("log_zeta", lambda a: a.self_paced_scheme == "logarithmic"),
        ("kd_weight", lambda a: a.kd_weight > 0),
        ("kd_temperature", lambda a: a.kd_weight > 0),
        ("nar_ratio", lambda a: a.nar_ratio < 1),
    )

    def __init__(self, *args, teacher_model: torch.nn.Module | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        student = self.accelerator.unwrap_model(self.model)
        if student.config.default_mode != "nar" or student.generation_config.decoding_mode != "nar":
            raise ValueError(
                "SPMDTrainer trains an NAR student, so config.default_mode and generation_config.decoding_mode must "
                f"be 'nar' (they are {student.config.default_mode!r} and "
                f"{student.generation_config.decoding_mode!r}); set them with `as_nar_student(model)` first."
            )
        if not isinstance(self.args, SPMDTrainingArguments):
            raise ValueError("SPMDTrainer needs `SPMDTrainingArguments`.")
        if self.compute_loss_func is not None:
            raise ValueError("`compute_loss_func` is not supported: SPMDTrainer computes its own loss.")
        if self.args.kd_weight > 0 and teacher_model is None:
            raise ValueError("`kd_weight > 0` needs a `teacher_model` (the AR teacher).")
        self.teacher_model = teacher_model
        if teacher_model is not None:
            self.teacher_model = teacher_model.to(self.args.device).eval().requires_grad_(False)
            student_vocab = self.accelerator.unwrap_model(self.model).config.vocab_size
            if teacher_model.config.vocab_size != student_vocab:
                raise ValueError(
                    f"The teacher's vocabulary ({teacher_model.config.vocab_size}) differs from the student's "
                    f"({student_vocab}); token-level KL needs one vocabulary."
                )
        self._metrics: dict[str, list[float]] = {}
        self._draw_position = (-1, 0)  # (global step, micro-batches drawn at that step)

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if DISTILLED_LABELS not in self._signature_columns:
            self._signature_columns.append(DISTILLED_LABELS)

    def _generator(self) -> torch.Generator:
        """A generator seeded by (seed, global step, micro-batch within the step, process index)."""
        step = self.state.global_step
        micro = self._draw_position[1] + 1 if self._draw_position[0] == step else 0
        self._draw_position = (step, micro)
        seed = hash((self.args.seed, step, micro, self.args.process_index)) % (2**63)
        return torch.Generator().manual_seed(seed)

    def _record(self, **values: float) -> None:
        for name, value in values.items():
            self._metrics.setdefault(name, []).append(float(value))

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ):
        if not model.training:  # evaluation loss: plain NAR loss on the gold target
            outputs = model(
                input_ids=inputs["input_ids"],
                attention_mask=inputs["attention_mask"],
                labels=inputs["labels"],
                mode="nar",
            )
            return (outputs.loss, outputs) if return_outputs else outputs.loss
        missing = [name for name in ("input_ids", "attention_mask", "labels") if name not in inputs]
        if missing:
            raise ValueError(f"The SPMD batch lacks the column(s) {missing}; use `SPMDDataCollator`.")
        args = self.args
        generator = self._generator()
        if args.nar_ratio < 1.0 and float(torch.rand((), generator=generator)) >= args.nar_ratio:
            loss, outputs = self._ar_loss(model, inputs, num_items_in_batch)
        else:
            loss, outputs = self._spmd_nar_loss(model, inputs, num_items_in_batch, generator)
        if args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes  # the Trainer's own rule: gradients are averaged over ranks
        return (loss, outputs) if return_outputs else loss

    def _ar_loss(self, model, inputs, num_items_in_batch):
        outputs = model(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            labels=inputs["labels"],
            mode="ar",
            num_items_in_batch=num_items_in_batch,
        )
        self._record(**{"spmd/ar_loss": outputs.loss.item(), "spmd/ar_step_share": 1.0})
        return outputs.loss, outputs

    def _spmd_nar_loss(self, model, inputs, num_items_in_batch, generator: torch.Generator):
        args = self.args
        gold = inputs["labels"]
        distilled = inputs.get(DISTILLED_LABELS)
        if distilled is None:
            if args.mixing_strategy != "gold":
                raise ValueError(
                    f"mixing_strategy={args.mixing_strategy!r} needs the `{DISTILLED_LABELS}` column; run "
                    "bang-distill first, or use mixing_strategy='gold'."
                )
            distilled = gold.new_full((gold.shape[0], 0, gold.shape[1]), -100)
        references = torch.cat([gold[:, None], distilled], dim=1)  # (B, R, T)
        reference_mask = references.ne(-100).any(-1)  # (B, R)
        batch, num_references = reference_mask.shape
        step, max_steps = self.state.global_step, max(self.state.max_steps, 1)
        ratio = mix_ratio_at(
            step,
            max_steps,
            args.distilled_ratio,
            args.distilled_ratio_end if args.distilled_ratio_end is not None else args.distilled_ratio,
            args.mix_schedule,
        )

        # One decoder pass per source: a NAR canvas holds only [MASK] tokens, so its prediction does not depend on
        # the reference, and every reference of a source is scored against the same logits (same dropout noise).
        outputs = model(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            canvas_length=references.shape[-1],
            mode="nar",
            use_cache=False,
        )
        config = self.accelerator.unwrap_model(model).config
        token_losses, _, counted = multi_reference_token_loss(outputs.logits, references, config.label_smoothing)
        reference_loss_sums = token_losses.sum(-1)  # (B, R) summed label-smoothed token losses (token_losses: B, R, T)
        reference_counts = counted.sum(-1).to(reference_loss_sums.dtype)  # (B, R)
        per_reference_losses = (reference_loss_sums.detach() / reference_counts.clamp(min=1)).float()
        per_reference_losses = per_reference_losses.masked_fill(~reference_mask, 0.0)

        overlaps = None
        by_overlap = args.mixing_strategy == "select" and args.selection_rule == "prediction_overlap"
        if by_overlap or args.pace_by == "agreement":
            predictions = outputs.logits.detach().argmax(-1)
            overlaps = prediction_overlap(predictions, references, reference_mask, config.eos_token_id)
        if by_overlap:
            weights = select_by_overlap(overlaps, per_reference_losses, reference_mask)
        else:
            weights = reference_weights(per_reference_losses, reference_mask, args.mixing_strategy, ratio, generator)
        weights = weights.to(reference_loss_sums.dtype)  # (B, R)

        token_loss_sums = (weights * reference_loss_sums).sum(-1)  # (B,)
        token_counts = (weights * reference_counts).sum(-1)  # (B,)
        chosen_mean_loss = (token_loss_sums.detach() / token_counts.clamp(min=1)).float()
        fraction = pace_fraction(step, max_steps, args.pace_start_fraction, args.pace_end_point, args.pace_shape)
        difficulty = chosen_mean_loss
        if args.pace_by == "agreement":  # disagreement with the chosen reference (or the weighted references)
            difficulty = (1.0 - (weights * overlaps).sum(-1)).clamp(0.0, 1.0)
        sample_weights, threshold = self_paced_weights(
            difficulty, fraction, args.self_paced_scheme, args.mixture_low, args.log_zeta
        )
        sample_weights = sample_weights.to(token_loss_sums.dtype)
        nar_loss = combine_sample_losses(token_loss_sums, sample_weights, num_items_in_batch, token_counts)
        loss = nar_loss

        kd_loss = None
        if args.kd_weight > 0:  # the teacher scores the (sample, reference) pairs that carry weight
            sample_index, reference_index = (weights > 0).nonzero(as_tuple=True)
            pair_labels = references[sample_index, reference_index]  # (P, T)
            with torch.no_grad():
                teacher_logits = self.teacher_model(
                    input_ids=inputs["input_ids"].index_select(0, sample_index),
                    attention_mask=inputs["attention_mask"].index_select(0, sample_index),
                    labels=pair_labels,
                    **({"mode": "ar"} if getattr(self.teacher_model.config, "model_type", None) == "bang" else {}),
                ).logits
            pair_kl = token_kl_divergence(
                outputs.logits.index_select(0, sample_index), teacher_logits, pair_labels.ne(-100), args.kd_temperature
            )
            pair_kl_sums = (
                weights[sample_index, reference_index] * pair_kl * reference_counts[sample_index, reference_index]
            )
            kd_sums = torch.zeros_like(token_loss_sums).index_add(
                0, sample_index, pair_kl_sums.to(token_loss_sums.dtype)
            )
            kd_loss = combine_sample_losses(kd_sums, sample_weights, num_items_in_batch, token_counts)
            loss = loss + args.kd_weight * kd_loss

        self._record(
            **{
                "spmd/nar_loss": float((chosen_mean_loss * (token_counts > 0)).sum() / max(batch, 1)),
                "spmd/pace_fraction": fraction,
                "spmd/admitted_fraction": float((sample_weights > 0).float().mean()),
                "spmd/mean_weight": float(sample_weights.float().mean()),
                "spmd/distilled_share": float(weights[:, 1:].sum(-1).mean()) if num_references > 1 else 0.0,
                "spmd/distilled_ratio": ratio,
                "spmd/ar_step_share": 0.0,
            }
        )
        self._record(**self._reference_statistics(per_reference_losses, reference_mask, weights, overlaps))
        if threshold is not None:
            self._record(**{"spmd/threshold": float(threshold)})
        if kd_loss is not None:
            self._record(**{"spmd/kd_loss": float(kd_loss.detach())})
        return loss, outputs

    @staticmethod
    def _reference_statistics(losses, reference_mask, weights, overlaps) -> dict[str, float]:
        """What shows why a rule picks the references it picks: the mean NAR loss of the gold and of the distilled
        references (and their gap), and, when computed, their overlap with the student's prediction."""
        if reference_mask.shape[1] < 2:
            return {}
        distilled = reference_mask[:, 1:]
        values = {
            "spmd/gold_loss": float(losses[:, 0].mean()),
            "spmd/distilled_loss": float(losses[:, 1:][distilled].mean()) if bool(distilled.any()) else 0.0,
        }
        values["spmd/loss_gap"] = values["spmd/gold_loss"] - values["spmd/distilled_loss"]
        if overlaps is not None:
            values["spmd/gold_overlap"] = float(overlaps[:, 0].mean())
            values["spmd/distilled_overlap"] = (
                float(overlaps[:, 1:][distilled].mean()) if bool(distilled.any()) else 0.0
            )
            values["spmd/chosen_overlap"] = float((weights * overlaps).sum(-1).mean())
        return values

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None, **gen_kwargs):
        """Evaluation on the gold target (the distilled references are training data only)."""
        inputs = {k: v for k, v in inputs.items() if k != DISTILLED_LABELS}
        return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys, **gen_kwargs)

    def log(self, logs: dict[str, float], *args, **kwargs) -> None:
        if self._metrics and "loss" in logs:  # training logs only
            logs = {**logs, **{name: sum(v) / len(v) for name, v in self._metrics.items()}}
            self._metrics = {}
        super().log(logs, *args, **kwargs)

    def create_model_card(
        self,
        language: str | None = None,
        license: str | None = None,
        tags: str | list[str] | None = None,
        model_name: str | None = None,
        finetuned_from: str | None = None,
        tasks: str | list[str] | None = None,
        dataset_tags: str | list[str] | None = None,
        dataset: str | list[str] | None = None,
        dataset_args: str | list[str] | None = None,
        card_dataset: dict[str, str] | None = None,
        card_results: list[dict[str, Any]] | None = None,
        card_training: dict[str, Any] | None = None,
        **card_kwargs: Any,
    ) -> None:
        """Writes this package's model card (`bang_spmd.model_cards.write_trainer_model_card`) as
        `output_dir/README.md`.

        It replaces the Trainer's generic card, so that `push_to_hub` (which calls this method and then uploads
        `output_dir`) publishes BANG's metadata (`custom_code` tag, `model-index`), usage snippet and limitations.
        `push_to_hub(**kwargs)` passes its extra keyword arguments here. The card reads the model saved in
        `output_dir` (`push_to_hub` saves it first; a direct call needs `save_model()` before). The card is of model
        type `nar` (BANG's NAR baseline) for `mixing_strategy="gold"` without self-pacing or token KD, else `spmd`;
        its training table shows the `_card_options` that apply. `card_results`, `card_dataset` and `card_training`
        replace or extend what is read from the run (see the writer); other keyword arguments (`baselines`,
        `example_inputs`, `limitations`, ...) go to `render_model_card`. `tasks` is not used.
        """
        if not self.is_world_process_zero():
            return
        args = self.args
        gold_only = args.mixing_strategy == "gold" and args.self_paced_scheme == "none" and args.kd_weight == 0
        model_type = "nar" if gold_only else "spmd"
        objective = self._baseline_objective if gold_only else f"{self._name} (NAR student; arXiv {self._paper['id']})"
        own_tags = self._tag_names if model_type == "spmd" else ()
        write_trainer_model_card(
            self,
            model_type=model_type,
            objective=objective,
            options={name: getattr(args, name) for name, applies in self._card_options if applies(args)},
            tags=[*own_tags, *([tags] if isinstance(tags, str) else list(tags or []))],
            results=card_results,
            dataset=card_dataset,
            training=card_training,
            dataset_tags=dataset_tags,
            dataset_name=dataset,
            dataset_args=dataset_args,
            model_name=model_name,
            base_model=finetuned_from,
            license=license,
            language=language,
            **card_kwargs,
        )


__all__ = [
    "DISTILLED_LABELS",
    "SPMDDataCollator",
    "SPMDTrainer",
    "SPMDTrainingArguments",
    "as_nar_student",
    "check_distilled_labels",
]
