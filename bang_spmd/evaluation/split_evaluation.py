"""Decode a JSON Lines split with a saved BANG model in a chosen mode; score ROUGE, BLEU, METEOR and time per sample.

Every model is scored the same way (`evaluate_split`): sources are tokenized with the model's tokenizer as in
training (`bang_spmd.trainers.encode_pairs`), outputs are decoded with `skip_special_tokens=True`, NAR outputs keeping
their `[UNK]` pieces (unless `drop_unk`) and getting their repeated words collapsed (the official NAR
post-processing; AR and semi-NAR outputs are never deduplicated, as officially; AR beam search stops at `num_beams`
finished hypotheses, `early_stopping=True` as in fairseq), and scored against the raw target text
with `compute_generation_metrics`: ROUGE-1/2/L F1 (rouge-score with stemming), BLEU-4 (sacrebleu) and METEOR (nltk;
with `meteor="auto"` only where WordNet is installed), all x 100. The training programs' `eval_rougeL_f1` is
unstemmed ROUGE-L, so it reads slightly lower than `rougeL_f1` here. The time per sample is the wall time of the
`generate` calls divided by the number of examples (batched), on the device the model runs on, after one untimed
call on the first example.
"""

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

import datasets
import torch

from bang_spmd.data.jsonl import check_jsonl_file
from bang_spmd.data.tasks import select_where
from bang_spmd.pretrained import resolve_model_name
from bang_spmd.trainers.model_setup import load_pretrained_model, load_pretrained_tokenizer
from bang_spmd.trainers.run_files import write_atomically
from bang_spmd.trainers.seq2seq_data import PairEncoding, encode_pairs
from modeling_bang.generation_bang import DECODING_MODES, collapse_repeated_words

from .decoding import MODE_OPTIONS, check_device, check_semi_nar_block_size, collapses_words, generate_batches
from .metrics import compute_generation_metrics
from .wordnet import find_nltk_wordnet


METEOR_CHOICES = ("auto", "yes", "no")


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class Decoding:
    """A decoding setting: the mode, the output length (the NAR canvas) and the options of the mode (the field
    names are `bang-evaluate`'s flags)."""

    decoding_mode: str = "nar"
    max_new_tokens: int = 48
    num_beams: int = 1  # `ar`
    length_penalty: float = 1.0  # `ar`
    nar_eos_penalty: float = 0.0  # `nar`: subtracted from the [SEP] scores (modeling_bang.generation_bang)
    semi_nar_block_size: int = 2  # `semi_nar`
    semi_nar_acceptance: str = "all"  # `semi_nar`: "all", "verify" (lossless) or "confidence"
    semi_nar_confidence: float = 0.9  # `semi_nar` with "confidence": the probability a proposal needs

    def __post_init__(self) -> None:
        if self.decoding_mode not in DECODING_MODES:
            raise ValueError(f"--decoding_mode must be one of {DECODING_MODES}, got {self.decoding_mode!r}.")
        for name in ("max_new_tokens", "num_beams", "semi_nar_block_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"--{name} must be a positive integer, got {value!r}.")
        defaults = {f.name: f.default for f in fields(Decoding)}
        misplaced = [
            f"--{name} {getattr(self, name)}"
            for name, mode in MODE_OPTIONS.items()
            if mode != self.decoding_mode and getattr(self, name) != defaults[name]
        ]
        if misplaced:  # it would be ignored
            raise ValueError(f"{', '.join(misplaced)} does not apply to decoding_mode {self.decoding_mode!r}.")

    def generate_kwargs(self) -> dict:
        """The `generate` keyword arguments: mode and length, and the options of this mode (`MODE_OPTIONS`)."""
        settings = {"decoding_mode": self.decoding_mode, "max_new_tokens": self.max_new_tokens}
        settings.update(
            {name: getattr(self, name) for name, mode in MODE_OPTIONS.items() if mode == self.decoding_mode}
        )
        if self.decoding_mode == "ar" and self.num_beams > 1:
            settings["early_stopping"] = True  # fairseq's beam search: stop once num_beams hypotheses are finished
        return settings


@dataclass(frozen=True)
class SplitEvaluation:
    """Which model decodes which split how; see the module docstring for how it is scored."""

    model: str  # a saved model folder with its tokenizer
    data_file: str  # JSON Lines with the source and target columns
    source_columns: str = "word,example"
    target_column: str = "definition"
    max_source_length: int = 128
    decoding: Decoding = field(default_factory=Decoding)
    batch_size: int = 64
    max_samples: int | None = None  # the first N examples only
    where: str | None = None  # only the rows whose COLUMN equals VALUE (`bang_spmd.data.tasks.parse_where`)
    device: str = field(default_factory=default_device)
    output_file: Path | None = None  # predictions as JSON Lines
    meteor: str = "auto"  # where WordNet is found / always / never
    trust_remote_code: bool = False  # allow running a model folder's own code (auto_map); BANG folders need none
    drop_unk: bool = False  # drop [UNK] from NAR outputs (the official post-processing keeps it)


def evaluate_split(evaluation: SplitEvaluation) -> dict:
    """Decodes and scores the split; returns the result dict that `bang-evaluate` prints (settings, metrics,
    `ms_per_sample`, `distinct_outputs`, `device`, the torch `threads` of the timing) and writes the predictions to
    `output_file` when given."""
    encoding = PairEncoding(
        source_columns=evaluation.source_columns,
        target_column=evaluation.target_column,
        max_source_length=evaluation.max_source_length,
        truncate_targets=True,
    )
    if evaluation.batch_size < 1 or (evaluation.max_samples is not None and evaluation.max_samples < 1):
        raise ValueError(f"--batch_size and --max_samples must be positive integers, got {evaluation.batch_size} "
                         f"and {evaluation.max_samples}.")  # fmt: skip
    check_device(str(evaluation.device))
    text, optional = encoding.text_columns()
    check_jsonl_file(evaluation.data_file, text, "data file (--data_file)", may_be_empty=optional)
    model_path = resolve_model_name(evaluation.model)
    if not Path(model_path).is_dir():
        raise ValueError(f"--model {evaluation.model} is not a folder.")
    model = load_pretrained_model(model_path, "--model", evaluation.trust_remote_code)
    tokenizer = load_pretrained_tokenizer(model_path, "--model", evaluation.trust_remote_code)
    check_semi_nar_block_size(model, evaluation.decoding.generate_kwargs())
    model = model.to(evaluation.device).eval()
    data = select_where(
        datasets.load_dataset("json", data_files=evaluation.data_file, split="train"),
        evaluation.where,
        evaluation.data_file,
    )
    if evaluation.max_samples is not None:
        data = data.select(range(min(evaluation.max_samples, len(data))))
    encoded, _ = encode_pairs(data, tokenizer, encoding, "evaluation")
    positions = model.config.max_position_embeddings
    too_long = [row for row, ids in enumerate(encoded["input_ids"]) if len(ids) > positions]
    if too_long:  # before anything is decoded
        raise ValueError(
            f"The source of evaluation example {too_long[0] + 1} has {len(encoded[too_long[0]]['input_ids'])} tokens "
            f"after truncation to --max_source_length {encoding.max_source_length}, more than the model's "
            f"max_position_embeddings ({positions}); pass --max_source_length {positions} (or less)."
        )
    settings = evaluation.decoding.generate_kwargs()

    with torch.inference_mode():  # one untimed call first: lazy initialisation is not latency
        ids = torch.tensor([encoded[0]["input_ids"]], device=evaluation.device)
        model.generate(ids, attention_mask=torch.ones_like(ids), **settings)
    predictions, seconds = [], 0.0
    word_collapse = collapses_words(model, settings)
    for texts, batch_seconds in generate_batches(
        model, tokenizer, encoded["input_ids"], settings, evaluation.batch_size, evaluation.drop_unk
    ):
        predictions += [collapse_repeated_words(t) if word_collapse else t for t in texts]
        seconds += batch_seconds
    references = list(encoded["reference"])
    meteor = evaluation.meteor == "yes" or (evaluation.meteor == "auto" and find_nltk_wordnet() is not None)
    result = {
        "model": evaluation.model,
        "data_file": evaluation.data_file,
        "samples": len(references),
        **settings,
        **compute_generation_metrics(predictions, references, with_meteor=meteor),
        "ms_per_sample": 1000.0 * seconds / max(len(references), 1),
        "distinct_outputs": len(set(predictions)),
        "device": str(evaluation.device),
        "threads": torch.get_num_threads(),
    }
    if evaluation.output_file is not None:
        write_atomically(
            evaluation.output_file,
            (
                json.dumps({"prediction": prediction, "reference": reference}) + "\n"
                for prediction, reference in zip(predictions, references, strict=True)
            ),
        )
    return result


__all__ = ["METEOR_CHOICES", "Decoding", "SplitEvaluation", "default_device", "evaluate_split"]
