"""Evaluation: the one implementation of the generation metrics, decoding with a saved model, and scoring a split.

* `metrics`: ROUGE-1/2/L, BLEU-4 and METEOR, offline (`compute_generation_metrics`), also as the local `evaluate`
  module `bang_generation_metrics/` (`load_metric`); `rouge_l` is the training programs' model-selection score;
* `wordnet`: an NLTK data folder with WordNet 3.0 from Debian's packages (METEOR needs it);
* `decoding`: sources, their token ids, the `generate` settings and batched decoding (`bang-generate`);
* `split_evaluation`: decode a JSON Lines split and score it (`evaluate_split`, `bang-evaluate`).
"""

from .decoding import Source, encode_sources, generate_batches, generation_settings
from .metrics import (
    METRIC_DIR,
    METRIC_NAMES,
    bleu4,
    chrf,
    compute_generation_metrics,
    load_metric,
    meteor,
    rouge_f1,
    rouge_l,
    validation_metric,
)
from .split_evaluation import Decoding, SplitEvaluation, evaluate_split


__all__ = [
    "METRIC_DIR",
    "METRIC_NAMES",
    "Decoding",
    "Source",
    "SplitEvaluation",
    "bleu4",
    "compute_generation_metrics",
    "encode_sources",
    "evaluate_split",
    "generate_batches",
    "generation_settings",
    "load_metric",
    "meteor",
    "rouge_f1",
    "rouge_l",
    "validation_metric",
    "chrf",
]
