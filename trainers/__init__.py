"""Training code for BANG models, installed as `bang_spmd.trainers` (the repository folder `trainers/`).

A library without command lines: it builds models from a shape, encodes and batches data, and holds BANG's
pretraining, the distillation of targets from an AR teacher and SPMD's objectives and trainer. It depends on
`modeling_bang` (which travels to the Hub as remote code and must not depend on it) and `bang_spmd.model_cards`.

    from bang_spmd.trainers import SPMDTrainer, SPMDTrainingArguments, SPMDDataCollator, as_nar_student

* `model_setup`: `ModelShape`, the one `bang_config` built from it, `build_bang_model`, `load_tokenizer`, resuming;
* `seq2seq_data`: (source, target) encoding (`PairEncoding`, `encode_pairs`) and the fine-tuning collator;
* `validation`: NAR decoding for the training programs' validation checks;
* `pretraining`: BANG's n-stream pretraining (chunking, span-masking collator and `BangPretrainingTrainer`);
* `distillation`: distilled targets from an AR teacher (`distill_dataset`), cached and resumable;
* `spmd_objectives`: SPMD's pure functions (pace, self-paced weights, reference mixing, token KL, loss);
* `spmd_trainer`: `SPMDTrainingArguments`, `SPMDDataCollator` and `SPMDTrainer`;
* `run_files`: an advisory lock per output (a second run refuses), atomic fsync'ed writes and moves, stale
  temporary files, failed writes named;
* `staged_saving`: checkpoints and final models written into a staging folder and moved into place when complete.
"""

from .distillation import (
    DISTILLED_COLUMNS,
    DISTILLED_HASH_COLUMN,
    DistillationConfig,
    distill_dataset,
    distillation_cache_key,
    distilled_sha256,
)
from .model_setup import ModelShape, bang_config, build_bang_model, load_tokenizer, resolve_resume_checkpoint
from .pretraining import (
    BangPretrainingTrainer,
    BangSpanMaskingCollator,
    MaskingEpochCallback,
    chunk_token_ids,
    mask_spans_for_dataset,
    tokenize_and_chunk,
)
from .seq2seq_data import PairEncoding, Seq2SeqCollator, clean_text, encode_pairs, pad_sources, source_texts
from .spmd_trainer import (
    DISTILLED_LABELS,
    DistilledFileCheck,
    SPMDDataCollator,
    SPMDTrainer,
    SPMDTrainingArguments,
    as_nar_student,
    check_distilled_labels,
    check_distilled_row,
)
from .validation import decode_nar, nar_generation_metrics


__all__ = [
    "DISTILLED_COLUMNS",
    "DISTILLED_HASH_COLUMN",
    "DISTILLED_LABELS",
    "BangPretrainingTrainer",
    "BangSpanMaskingCollator",
    "DistillationConfig",
    "DistilledFileCheck",
    "MaskingEpochCallback",
    "ModelShape",
    "PairEncoding",
    "SPMDDataCollator",
    "SPMDTrainer",
    "SPMDTrainingArguments",
    "Seq2SeqCollator",
    "as_nar_student",
    "bang_config",
    "build_bang_model",
    "check_distilled_labels",
    "check_distilled_row",
    "chunk_token_ids",
    "clean_text",
    "decode_nar",
    "distill_dataset",
    "distillation_cache_key",
    "distilled_sha256",
    "encode_pairs",
    "load_tokenizer",
    "mask_spans_for_dataset",
    "nar_generation_metrics",
    "pad_sources",
    "resolve_resume_checkpoint",
    "source_texts",
    "tokenize_and_chunk",
]
