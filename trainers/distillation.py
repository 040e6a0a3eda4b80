"""Sequence-level distillation data for SPMD: a teacher's decoded targets, cached on disk and resumable.

SPMD (Qi et al., 2022, arXiv 2205.11162) trains the NAR student on targets distilled from "the AR stream knowledge" of
BANG together with the original targets; the paper names that source, not a procedure for obtaining the targets (this
package's reading of arXiv 2205.11162). This module implements the sequence-level reading, sequence-level knowledge
distillation (Kim & Rush, 2016): a teacher, by default BANG fine-tuned in AR mode, decodes every training source with
beam search and its K best beams become extra targets. The BANG README's advice to distil the training set before NAR
fine-tuning is the same recipe with K = 1. How the trainer mixes these targets with the gold ones is decided there, not
here.

`distill_dataset` adds four columns to a `datasets.Dataset` (the contract the SPMD trainer relies on):

* `distilled_texts`: K strings, the teacher's outputs decoded with `skip_special_tokens=True`;
* `distilled_labels`: K label sequences in the student's ids, `y1 .. yn [SEP]` (no decoder start token, no padding);
* `distilled_scores`: K floats, the teacher's score of each output (see `distill_dataset`);
* `distilled_sha256`: the sha256 of the row's source together with its distilled labels (`distilled_sha256`), so
  that the trainer refuses a row whose targets no longer sit next to the source they were decoded from (rows, or
  only their distilled columns, rotated or mixed; a source or a label edited). Files of earlier versions carry
  `distilled_source_sha256`, the hash of the source alone, which misses targets moved between rows: the trainer
  refuses them, asking for bang-distill to be run again (it reads its cache, so nothing is decoded again when the
  teacher, data and settings are unchanged).

Results are cached under `output_dir/<key>/`, the key hashing everything that determines them, and written one
JSON Lines part per batch, so that an interrupted run resumes where it stopped and gives exactly the rows of an
uninterrupted one. Under `accelerate launch` the batches are shared among the processes.
"""

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging

from .run_files import exclusive_lock, remove_stale_temporary_files, write_atomically
from .seq2seq_data import check_source_text, check_text, clean_text, source_texts


logger = logging.get_logger(__name__)

DISTILLED_COLUMNS = ("distilled_texts", "distilled_labels", "distilled_scores")
# The sha256 of each row's source and distilled labels (`distilled_sha256`): the trainer refuses a row that does not
# match it (targets rotated or mixed, taken from another file, read with other source columns, edited).
DISTILLED_HASH_COLUMN = "distilled_sha256"
# What earlier versions wrote instead: the hash of the source alone. Recognised only to refuse it with a message.
OLD_SOURCE_HASH_COLUMN = "distilled_source_sha256"
# Bumped whenever the files or their meaning change, so that an older cache is never read as a newer one
# (2: beam search with early_stopping=True, as fairseq).
CACHE_FORMAT_VERSION = 2
FINAL_FILE = "distilled.jsonl"
META_FILE = "meta.json"
PARTS_DIR = "parts"
PART_NAME = re.compile(r"rows-(\d+)-(\d+)\.jsonl")


@dataclass
class DistillationConfig:
    """How the teacher decodes the training set. Every field is part of the cache key."""

    # Data
    source_columns: list[str] = field(
        metadata={
            "help": "Source columns: the first is the text, the others joined by a space are the text pair "
            "(`word example` gives `word [SEP] example [SEP]`, as in bang-finetune)."
        }
    )
    target_column: str = field(metadata={"help": "Gold target column; it must exist and is kept unchanged."})
    # Decoding
    num_distilled: int = field(default=1, metadata={"help": "K: distilled targets per example (the K best beams)."})
    num_beams: int = field(default=4, metadata={"help": "Beam size of the teacher (at least num_distilled)."})
    length_penalty: float = field(
        default=1.0, metadata={"help": "Beam-search length penalty (official BANG AR decoding: 1.2)."}
    )
    max_source_length: int = field(default=128, metadata={"help": "Source tokens, [SEP]s included (truncated)."})
    max_new_tokens: int = field(default=64, metadata={"help": "Longest teacher output, its [SEP] included."})
    batch_size: int = field(default=32, metadata={"help": "Sources per generate call; one cache part per batch."})
    # Student side
    retokenize: bool = field(
        default=False,
        metadata={
            "help": "Re-tokenize the decoded texts with the student tokenizer; required when the teacher's "
            "vocabulary differs from the student's, ignored when they are the same."
        },
    )

    def __post_init__(self) -> None:
        if isinstance(self.source_columns, str) or not isinstance(self.source_columns, Sequence):
            raise ValueError(f"`source_columns` must be a list of column names, got {self.source_columns!r}.")
        self.source_columns = list(self.source_columns)
        if not self.source_columns or not all(isinstance(c, str) and c for c in self.source_columns):
            raise ValueError(
                f"`source_columns` must be a non-empty list of column names, got {self.source_columns!r}."
            )
        if not isinstance(self.target_column, str) or not self.target_column:
            raise ValueError(f"`target_column` must be a column name, got {self.target_column!r}.")
        for name in ("num_distilled", "num_beams", "max_source_length", "max_new_tokens", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if self.num_beams < self.num_distilled:
            raise ValueError(
                f"`num_beams` ({self.num_beams}) must be at least `num_distilled` ({self.num_distilled}): "
                "the distilled targets are the best beams."
            )
        if (
            isinstance(self.length_penalty, bool)
            or not isinstance(self.length_penalty, int | float)
            or not math.isfinite(self.length_penalty)
        ):
            raise ValueError(f"`length_penalty` must be a finite number, got {self.length_penalty!r}.")
        if not isinstance(self.retokenize, bool):
            raise ValueError(f"`retokenize` must be True or False, got {self.retokenize!r}.")


# ---------------------------------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------------------------------


def labels_from_sequences(sequences: torch.Tensor, eos_token_ids: Sequence[int], prompt_length: int = 1) -> list:
    """Label sequences `y1 .. yn eos` from the output of `generate`.

    Args:
        sequences: (N, L) generated ids, starting with `prompt_length` decoder prompt tokens (the decoder start
            token), right-padded after the end of sequence.
        eos_token_ids: the ids that end a sequence; the first one is appended to a sequence that has none
            (the output ran out of `max_new_tokens`).
        prompt_length: leading tokens removed.

    Returns:
        N lists of ids, each cut after its first end-of-sequence token; an output whose first token is the end of
        sequence gives `[eos]`.
    """
    eos = set(eos_token_ids)
    labels = []
    for row in sequences[:, prompt_length:].tolist():
        cut = next((i + 1 for i, token in enumerate(row) if token in eos), None)
        labels.append(row[:cut] if cut is not None else [*row, eos_token_ids[0]])
    return labels


def mean_token_log_probs(
    sequences: torch.Tensor, scores: Sequence[torch.Tensor], eos_token_ids: Sequence[int]
) -> list[float]:
    """Mean log-probability of the generated tokens of greedy outputs, the end-of-sequence token included.

    `scores` is `generate(..., output_scores=True).scores`: one (N, vocab) tensor of processed logits per step. They
    are log-softmax normalised here; tokens after the first end of sequence (padding) are not counted. This is the
    beam score of the same output with `length_penalty=1` (sum of log-probabilities over the generated length).
    """
    generated = sequences[:, -len(scores) :]  # (N, T)
    token_log_probs = torch.stack(
        [step.float().log_softmax(-1).gather(-1, generated[:, t, None]).squeeze(-1) for t, step in enumerate(scores)],
        dim=1,
    )  # (N, T)
    is_eos = torch.zeros_like(generated, dtype=torch.bool)
    for token in eos_token_ids:
        is_eos |= generated.eq(token)
    ended_before = is_eos.long().cumsum(-1) - is_eos.long()  # > 0 after the first eos
    keep = ended_before.eq(0)
    # `where`, not a product: a padding step may have a log-probability of -inf.
    means = torch.where(keep, token_log_probs, 0.0).sum(-1) / keep.sum(-1).clamp(min=1)
    return means.tolist()


def _tokenizer_description(tokenizer: PreTrainedTokenizerBase | None) -> dict | None:
    """What of a tokenizer changes the source ids or the labels: vocabulary, special tokens, backend pipeline."""
    if tokenizer is None:
        return None
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        # Calls with `padding` / `truncation` leave their settings in the backend: they are not the tokenizer's.
        backend = {k: v for k, v in json.loads(backend.to_str()).items() if k not in ("padding", "truncation")}
    return {
        "class": type(tokenizer).__name__,
        "vocab": sorted(tokenizer.get_vocab().items(), key=lambda item: (item[1], item[0])),
        "special_tokens": {k: str(v) for k, v in sorted(tokenizer.special_tokens_map.items())},
        "backend": backend,
        "sides": [getattr(tokenizer, "padding_side", None), getattr(tokenizer, "truncation_side", None)],
    }


def distilled_sha256(source_values: Sequence, distilled_labels: Sequence[Sequence[int]]) -> str:
    """The sha256 (hex) of a distilled row: its source as the student reads it (the texts of the source columns in
    order, whitespace collapsed by `clean_text`, as `encode_pairs` reads them) and its K distilled label sequences
    (the ids the student trains on, unchanged), as the compact JSON object `{"distilled_labels": [[...], ...],
    "source": ["...", ...]}` (UTF-8, keys sorted, non-ASCII kept). `distill_dataset` stores it in
    `DISTILLED_HASH_COLUMN`. The texts and scores are not covered: training does not read them."""
    payload = {
        "source": [clean_text(value) for value in source_values],
        "distilled_labels": [list(ids) for ids in distilled_labels],
    }
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_parameters(model: torch.nn.Module) -> str:
    """Hash of every tensor of `model.state_dict()` (names, dtypes, shapes and bytes; tied tensors hashed once).

    All bytes are hashed because a sum or a sample of a few tensors misses a fine-tuned model whose changes lie
    elsewhere. The cost is one pass of blake2b over the weights, plus a device-to-host copy for a model on an
    accelerator: about a second for BANG-base (0.5 GB in float32) and nothing for test models.
    """
    digest = hashlib.blake2b(digest_size=16)
    seen: dict[tuple, str] = {}
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        storage = (tensor.device, tensor.data_ptr(), tensor.dtype, tuple(tensor.shape), tensor.stride())
        if storage in seen:
            digest.update(f"tied:{seen[storage]}".encode())
            continue
        seen[storage] = name
        data = tensor.detach().contiguous().reshape(-1).view(torch.uint8).cpu().numpy()
        digest.update(memoryview(data))
    return digest.hexdigest()


def hash_columns(dataset: datasets.Dataset, columns: Sequence[str], batch_size: int = 10_000) -> str:
    """Hash of the content of `columns`, row by row in order."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps([len(dataset), list(columns)]).encode())
    for batch in dataset.select_columns(list(columns)).iter(batch_size=batch_size):
        digest.update(json.dumps([batch[c] for c in columns], ensure_ascii=False, default=str).encode())
    return digest.hexdigest()


def distillation_cache_key(
    dataset: datasets.Dataset,
    teacher: PreTrainedModel,
    teacher_tokenizer: PreTrainedTokenizerBase,
    config: DistillationConfig,
    student_tokenizer: PreTrainedTokenizerBase | None = None,
) -> str:
    """The name of the cache folder: a hash of everything that determines the distilled columns.

    That is the content of the source columns (in row order), the teacher's config, generation config and weights,
    both tokenizers and the `DistillationConfig`. The sources are hashed rather than `dataset._fingerprint` because
    the fingerprint is random when `datasets` caching is disabled or a `map` function cannot be hashed, which would
    silently defeat resuming and give each process of a distributed run its own folder; hashing the content is
    cheap (a fraction of a second for 30,000 rows) and also lets data sets that differ only in other columns share
    their distillation.
    """
    parts = {
        "format_version": CACHE_FORMAT_VERSION,
        "sources": hash_columns(dataset, config.source_columns),
        "teacher_config": teacher.config.to_json_string(),
        "teacher_generation_config": (
            teacher.generation_config.to_json_string() if teacher.generation_config is not None else None
        ),
        "teacher_parameters": hash_parameters(teacher),
        "teacher_tokenizer": _tokenizer_description(teacher_tokenizer),
        "student_tokenizer": _tokenizer_description(student_tokenizer),
        "config": dataclasses.asdict(config),
    }
    payload = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Distillation
# ---------------------------------------------------------------------------------------------------------------


def _end_token_ids(teacher: PreTrainedModel) -> list[int]:
    eos = teacher.generation_config.eos_token_id if teacher.generation_config is not None else None
    if eos is None:
        eos = teacher.config.eos_token_id
    if eos is None:
        raise ValueError("The teacher has no `eos_token_id` (generation config or config): outputs cannot be cut.")
    return [int(e) for e in eos] if isinstance(eos, list | tuple) else [int(eos)]


def _student_end_token_id(student_tokenizer: PreTrainedTokenizerBase) -> int:
    end = student_tokenizer.eos_token_id
    if end is None:
        end = student_tokenizer.sep_token_id
    if end is None:
        raise ValueError("The student tokenizer has neither an eos nor a [SEP] token to end the labels with.")
    return end


def _check_vocabularies(
    teacher_tokenizer: PreTrainedTokenizerBase, student_tokenizer: PreTrainedTokenizerBase | None, retokenize: bool
) -> bool:
    """Returns whether the labels are re-tokenized texts (the vocabularies differ and `retokenize` is set)."""
    if student_tokenizer is None or student_tokenizer.get_vocab() == teacher_tokenizer.get_vocab():
        if retokenize:
            logger.info("The teacher and the student share the vocabulary: `retokenize` is ignored.")
        return False
    if not retokenize:
        raise ValueError(
            "The student tokenizer's vocabulary differs from the teacher's, so the teacher's ids cannot be the "
            "student's labels; set `retokenize=True` to re-tokenize the decoded texts with the student tokenizer."
        )
    _student_end_token_id(student_tokenizer)
    return True


def _distill_batch(
    batch: dict[str, list],
    teacher: PreTrainedModel,
    teacher_tokenizer: PreTrainedTokenizerBase,
    config: DistillationConfig,
    student_tokenizer: PreTrainedTokenizerBase | None,
    retokenize: bool,
) -> tuple[list[dict], int]:
    """Decodes one batch; returns one record per source (in order) and the number of truncated sources."""
    text, text_pair = source_texts(batch, config.source_columns)
    full_lengths = [len(ids) for ids in teacher_tokenizer(text, text_pair, verbose=False)["input_ids"]]
    truncated = sum(n > config.max_source_length for n in full_lengths)
    inputs = teacher_tokenizer(
        text, text_pair, truncation=True, max_length=config.max_source_length, padding=True, return_tensors="pt"
    ).to(teacher.device)
    settings = {
        "attention_mask": inputs["attention_mask"],
        "num_beams": config.num_beams,
        "num_return_sequences": config.num_distilled,
        "max_new_tokens": config.max_new_tokens,
        "do_sample": False,
        "return_dict_in_generate": True,
        "output_scores": True,
    }
    if config.num_beams > 1:
        settings["length_penalty"] = config.length_penalty  # transformers warns about it without beams
        settings["early_stopping"] = True  # fairseq's beam search: stop once num_beams hypotheses are finished
    if getattr(teacher.config, "model_type", None) == "bang":
        settings["decoding_mode"] = "ar"
    output = teacher.generate(inputs["input_ids"], **settings)

    eos = _end_token_ids(teacher)
    sequences = output.sequences.cpu()  # (batch * K, L)
    teacher_labels = labels_from_sequences(sequences, eos)
    texts = teacher_tokenizer.batch_decode(teacher_labels, skip_special_tokens=True)
    if config.num_beams > 1:
        scores = output.sequences_scores.float().cpu().tolist()
    else:
        scores = mean_token_log_probs(sequences, [s.cpu() for s in output.scores], eos)
    if retokenize:
        end = _student_end_token_id(student_tokenizer)
        labels = [ids if ids and ids[-1] == end else [*ids, end] for ids in student_tokenizer(texts)["input_ids"]]
    else:
        labels = teacher_labels

    k = config.num_distilled
    records = [
        {
            "distilled_texts": texts[row * k : (row + 1) * k],
            "distilled_labels": labels[row * k : (row + 1) * k],
            "distilled_scores": [float(s) for s in scores[row * k : (row + 1) * k]],
        }
        for row in range(len(text))
    ]
    return records, truncated


def _jsonl(records: Sequence[dict]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def _part_path(parts_dir: Path, start: int, end: int) -> Path:
    return parts_dir / f"rows-{start:09d}-{end:09d}.jsonl"


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _collect_rows(records: Sequence[dict], num_rows: int, num_distilled: int, where: Path) -> list[dict]:
    """Orders records by row and checks that each of the `num_rows` rows appears exactly once, with K targets."""
    rows: list[dict | None] = [None] * num_rows
    duplicates, out_of_range, wrong_size = [], [], []
    for record in records:
        index = record.get("row")
        if not isinstance(index, int) or not 0 <= index < num_rows:
            out_of_range.append(index)
            continue
        if rows[index] is not None:
            duplicates.append(index)
            continue
        if any(len(record.get(name, ())) != num_distilled for name in DISTILLED_COLUMNS):
            wrong_size.append(index)
        rows[index] = record
    missing = [i for i, row in enumerate(rows) if row is None]
    problems = {
        "missing": missing,
        "duplicated": duplicates,
        "out of range": out_of_range,
        f"without {num_distilled} targets": wrong_size,
    }
    found = {name: indices for name, indices in problems.items() if indices}
    if found:
        details = "; ".join(f"{len(v)} {name} (e.g. {v[:5]})" for name, v in found.items())
        raise RuntimeError(
            f"The distillation cache {where} does not hold each of the {num_rows} rows exactly once: {details}. "
            "Delete that folder to distil again."
        )
    return rows


def _row_hashes(dataset: datasets.Dataset, columns: Sequence[str], rows: Sequence[dict]) -> list[str]:
    """`distilled_sha256` of each row: the source columns of `dataset` and the `distilled_labels` of `rows`."""
    sources = []
    for batch in dataset.select_columns(list(columns)).iter(batch_size=1000):
        sources.extend(zip(*(batch[c] for c in columns), strict=True))
    return [distilled_sha256(source, row["distilled_labels"]) for source, row in zip(sources, rows, strict=True)]


def _with_columns(
    dataset: datasets.Dataset, rows: Sequence[dict], key: str, source_columns: Sequence[str]
) -> datasets.Dataset:
    features = {
        "distilled_texts": datasets.List(datasets.Value("string")),
        "distilled_labels": datasets.List(datasets.List(datasets.Value("int64"))),
        "distilled_scores": datasets.List(datasets.Value("float64")),
        DISTILLED_HASH_COLUMN: datasets.Value("string"),
    }
    hashes = _row_hashes(dataset, source_columns, rows)
    rows = [{**row, DISTILLED_HASH_COLUMN: digest} for row, digest in zip(rows, hashes, strict=True)]
    for name in (*DISTILLED_COLUMNS, DISTILLED_HASH_COLUMN):
        # A fingerprint derived from the input's and the cache key's, so that later `map` calls can be cached.
        fingerprint = hashlib.blake2b(f"{dataset._fingerprint}|{key}|{name}".encode(), digest_size=8).hexdigest()
        dataset = dataset.add_column(
            name, [row[name] for row in rows], new_fingerprint=fingerprint, feature=features[name]
        )
    return dataset


def _warn_empty(rows: Sequence[dict]) -> int:
    """Counts the distilled targets whose text is empty and logs a warning when there are any."""
    empty = sum(not text.strip() for row in rows for text in row["distilled_texts"])
    if empty:
        examples = sum(any(not text.strip() for text in row["distilled_texts"]) for row in rows)
        logger.warning(
            f"{empty} distilled targets of {examples} examples are empty (the teacher ended the output at once, "
            "label `[SEP]` alone); they are kept."
        )
    return empty


def distill_dataset(
    dataset: datasets.Dataset,
    teacher: PreTrainedModel,
    teacher_tokenizer: PreTrainedTokenizerBase,
    config: DistillationConfig,
    output_dir: str | Path,
    student_tokenizer: PreTrainedTokenizerBase | None = None,
    accelerator=None,
    show_progress: bool = True,
) -> datasets.Dataset:
    """Decodes the sources of `dataset` with `teacher` and returns `dataset` with the distilled columns added.

    The teacher is any `AutoModelForSeq2SeqLM`, used on the device it is on, in eval mode (its previous mode is
    restored afterwards) under `torch.inference_mode()`. Each batch of `config.batch_size` rows is tokenized with
    `teacher_tokenizer` (sources longer than `max_source_length` are truncated, with a warning that counts them) and
    decoded with `teacher.generate(input_ids, attention_mask=..., num_beams=..., num_return_sequences=K,
    max_new_tokens=..., length_penalty=..., early_stopping=True, do_sample=False, return_dict_in_generate=True,
    output_scores=True)` (`length_penalty` and `early_stopping`, fairseq's beam stopping rule, with beams only),
    plus `decoding_mode="ar"` for a BANG teacher; the teacher's other generation settings (e.g.
    `no_repeat_ngram_size`) apply and are part of the cache key.

    Added columns, K = `config.num_distilled`, the best beam first:
        `distilled_texts`: K strings, each output decoded with `skip_special_tokens=True`.
        `distilled_labels`: K lists of the student's ids `y1 .. yn [SEP]`. With a shared vocabulary
            (`student_tokenizer` None or with the teacher's `get_vocab()`) they are the generated ids, decoder start
            token removed, cut after the first end-of-sequence token, which is appended to an output that ran out of
            `max_new_tokens`. With different vocabularies they are `student_tokenizer(text)` (its eos / `[SEP]`
            appended if the tokenizer does not add it; this can be longer than `max_new_tokens`), which
            `config.retokenize=True` must allow.
        `distilled_scores`: K floats. With beam search, `sequences_scores`: the sum of the output's token
            log-probabilities divided by its generated length (end of sequence included) to the power
            `length_penalty`. With `num_beams == 1`, the mean log-probability of the generated tokens, end of
            sequence included (the beam score with `length_penalty=1`); this package's choice, transformers
            returns no score there.
        `distilled_sha256`: `distilled_sha256` of the row's source columns and `distilled_labels` (not part of the
            cache).
    An empty target (its text is empty, typically because the teacher ended the output at once: label `[SEP]`
    alone) is kept, and the number of empty targets is logged as a warning on every call, cached or not; whether
    it is an error is the trainer's decision.

    Cache: results live in `output_dir/<distillation_cache_key(...)>/`. Each completed batch is written to
    `parts/rows-<start>-<end>.jsonl` through a temporary file and a rename, so an interrupted run leaves only whole
    parts; a later call with the same key skips them. Once every row is there (each row index checked to appear
    exactly once, otherwise a RuntimeError), the rows are written in order to `distilled.jsonl` with `meta.json`, the
    parts are removed, and later calls read `distilled.jsonl` without decoding anything. While a run decodes into a
    cache folder it holds that folder's advisory lock (`bang_spmd.trainers.run_files.exclusive_lock`): a second run
    with the same key refuses with a `LockedError` naming the first (a complete cache is read without the lock), and
    the temporary files that interrupted writes left are removed.

    Distributed: with an `accelerate.Accelerator`, process p decodes the batches whose index i has
    `i % num_processes == p` and writes their parts; after `wait_for_everyone()` every process assembles the same
    data set from all parts, and the main process writes the final files. `output_dir` must be shared by the
    processes; put the teacher on `accelerator.device` before calling. A distributed run (WORLD_SIZE > 1) whose
    processes are not all known to `accelerator` is refused before decoding (a ValueError), since its processes
    would overwrite each other's parts; reading a complete cache needs no accelerator.

    Raises:
        ValueError: a source or target column is missing, the data set is empty or already has distilled columns, a
            source or target value is not a string or has no text (`dataset[i]` and the column named; a text-pair
            column may be empty), a source holds no text once tokenized (all checked before anything is decoded),
            the vocabularies differ without `config.retokenize`, or the processes of a distributed run are not
            all known to `accelerator`.
        LockedError: another run is decoding into the same cache folder.
    """
    _check_dataset(dataset, config)
    _check_texts(dataset, config, teacher_tokenizer)
    retokenize = _check_vocabularies(teacher_tokenizer, student_tokenizer, config.retokenize)

    key = distillation_cache_key(dataset, teacher, teacher_tokenizer, config, student_tokenizer)
    cache_dir = Path(output_dir) / key
    final_path, meta_path = cache_dir / FINAL_FILE, cache_dir / META_FILE
    num_rows, k = len(dataset), config.num_distilled

    def read_complete_cache() -> datasets.Dataset | None:
        if not (meta_path.is_file() and final_path.is_file()):
            return None
        logger.info(f"Loading the distilled targets from {final_path}.")
        rows = _collect_rows(_read_jsonl(final_path), num_rows, k, final_path)
        _warn_empty(rows)
        return _with_columns(dataset, rows, key, config.source_columns)

    complete = read_complete_cache()  # a complete cache is never rewritten: it is read without the lock
    if complete is not None:
        return complete
    num_processes, process_index, is_main = _process_layout(accelerator)
    with contextlib.ExitStack() as claim:
        if is_main:  # one run decodes into a cache folder at a time; a second one refuses (LockedError)
            claim.enter_context(exclusive_lock(cache_dir, "The distillation cache"))
        if accelerator is not None:
            accelerator.wait_for_everyone()
        complete = read_complete_cache()  # completed by another run meanwhile
        if complete is not None:
            return complete
        return _distill_into_cache(
            dataset, teacher, teacher_tokenizer, config, student_tokenizer, accelerator, show_progress, retokenize,
            key, cache_dir, (num_processes, process_index, is_main),
        )  # fmt: skip


def _distill_into_cache(
    dataset: datasets.Dataset,
    teacher: PreTrainedModel,
    teacher_tokenizer: PreTrainedTokenizerBase,
    config: DistillationConfig,
    student_tokenizer: PreTrainedTokenizerBase | None,
    accelerator,
    show_progress: bool,
    retokenize: bool,
    key: str,
    cache_dir: Path,
    layout: tuple[int, int, bool],
) -> datasets.Dataset:
    """Decodes the missing batches into `cache_dir` (this run holds its lock), assembles the rows and writes the
    final files (`distill_dataset`); the temporary files of interrupted writes are removed first."""
    num_processes, process_index, is_main = layout
    final_path, meta_path, parts_dir = cache_dir / FINAL_FILE, cache_dir / META_FILE, cache_dir / PARTS_DIR
    num_rows, k = len(dataset), config.num_distilled
    parts_dir.mkdir(parents=True, exist_ok=True)
    if is_main:
        remove_stale_temporary_files(cache_dir)
        remove_stale_temporary_files(parts_dir)
    pending = _pending_batches(num_rows, config.batch_size, parts_dir, num_processes, process_index)
    quiet = not show_progress or (accelerator is not None and not accelerator.is_local_main_process)
    truncated = _decode_batches(
        pending, dataset, teacher, teacher_tokenizer, config, student_tokenizer, retokenize, parts_dir, quiet
    )
    if truncated:
        logger.warning(
            f"{truncated} sources decoded by process {process_index} were truncated to {config.max_source_length} "
            "tokens."
        )

    if accelerator is not None:
        accelerator.wait_for_everyone()
    rows = _collect_rows(_read_parts(parts_dir), num_rows, k, parts_dir)
    empty = _warn_empty(rows)
    if accelerator is not None:
        accelerator.wait_for_everyone()  # every process has read the parts before they are removed
    if is_main:
        meta = {
            "format_version": CACHE_FORMAT_VERSION,
            "key": key,
            "num_rows": num_rows,
            "empty_targets": empty,
            "retokenized": retokenize,
            "teacher": getattr(teacher.config, "_name_or_path", None) or type(teacher).__name__,
            "config": dataclasses.asdict(config),
        }
        _write_final_files(rows, meta, final_path, meta_path, parts_dir)
    if accelerator is not None:
        accelerator.wait_for_everyone()
    return _with_columns(dataset, rows, key, config.source_columns)


def _check_dataset(dataset: datasets.Dataset, config: DistillationConfig) -> None:
    """A ValueError for a missing source or target column, distilled columns already there, or an empty data set."""
    missing = [c for c in [*config.source_columns, config.target_column] if c not in dataset.column_names]
    if missing:
        raise ValueError(f"Column(s) {missing} are not in the data set (columns: {dataset.column_names}).")
    present = [
        c for c in (*DISTILLED_COLUMNS, DISTILLED_HASH_COLUMN, OLD_SOURCE_HASH_COLUMN) if c in dataset.column_names
    ]
    if present:
        raise ValueError(f"The data set already has the distilled column(s) {present}; remove them first.")
    if len(dataset) == 0:
        raise ValueError("The data set is empty: there is nothing to distil.")


def _check_texts(dataset: datasets.Dataset, config: DistillationConfig, teacher_tokenizer) -> None:
    """ValueErrors, before anything is decoded, naming `dataset[i]`, the column and the value found: a source or
    target value that is not a string (a number, a list, null, which `source_texts` would turn into text silently),
    a first source column or target without text (the text-pair columns may be empty strings, as in training), and a
    source that holds no text once the teacher's tokenizer has read it (`check_source_text`: only special tokens,
    as characters the tokenizer drops give)."""
    columns = [*config.source_columns, config.target_column]
    may_be_empty = set(config.source_columns[1:]) - {config.source_columns[0], config.target_column}
    start = 0
    for batch in dataset.select_columns(list(dict.fromkeys(columns))).iter(batch_size=1000):
        for column in columns:
            for offset, value in enumerate(batch[column]):
                if not (column in may_be_empty and isinstance(value, str)):
                    check_text(value, f"dataset[{start + offset}]", column)
        text, text_pair = source_texts(batch, config.source_columns)
        ids = teacher_tokenizer(text, text_pair, verbose=False)["input_ids"]
        check_source_text(ids, teacher_tokenizer, lambda row, first=start: f"dataset[{first + row}]: the source")
        start += len(text)


def _process_layout(accelerator) -> tuple[int, int, bool]:
    """(number of processes, this process's index, whether it is the main one); a ValueError when the job has more
    processes (WORLD_SIZE) than `accelerator` knows of."""
    num_processes = accelerator.num_processes if accelerator is not None else 1
    process_index = accelerator.process_index if accelerator is not None else 0
    is_main = accelerator.is_main_process if accelerator is not None else True
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size != num_processes:
        # Each process would decode every batch and remove the parts the others are still reading.
        raise ValueError(
            f"This job has {world_size} processes (WORLD_SIZE) but distill_dataset sees {num_processes}: pass the "
            "run's `accelerate.Accelerator`. On a machine without GPUs, accelerate only starts a distributed run "
            "with `ACCELERATE_USE_CPU=1` in the environment (or `Accelerator(cpu=True)`)."
        )
    return num_processes, process_index, is_main


def _pending_batches(
    num_rows: int, batch_size: int, parts_dir: Path, num_processes: int, process_index: int
) -> list[tuple[int, int]]:
    """The (start, end) row ranges this process decodes (batch i goes to process i % num_processes) that have no
    part file yet."""
    batches = [(start, min(start + batch_size, num_rows)) for start in range(0, num_rows, batch_size)]
    pending = [
        (start, end)
        for index, (start, end) in enumerate(batches)
        if index % num_processes == process_index and not _part_path(parts_dir, start, end).is_file()
    ]
    done = sum(1 for i in range(process_index, len(batches), num_processes)) - len(pending)
    if done:
        cache_dir = parts_dir.parent
        logger.info(f"Resuming the distillation in {cache_dir}: {done} batches of this process are already done.")
    return pending


def _decode_batches(
    pending: Sequence[tuple[int, int]],
    dataset: datasets.Dataset,
    teacher: PreTrainedModel,
    teacher_tokenizer: PreTrainedTokenizerBase,
    config: DistillationConfig,
    student_tokenizer: PreTrainedTokenizerBase | None,
    retokenize: bool,
    parts_dir: Path,
    quiet: bool,
) -> int:
    """Decodes the `pending` row ranges in eval mode (the teacher's mode is restored), each written as one part
    file; returns the number of truncated sources."""
    sources = dataset.select_columns(config.source_columns)
    truncated = 0
    was_training = teacher.training
    teacher.eval()
    try:
        with torch.inference_mode():
            for start, end in tqdm(pending, desc="Distilling", unit="batch", disable=quiet):
                records, batch_truncated = _distill_batch(
                    sources[start:end], teacher, teacher_tokenizer, config, student_tokenizer, retokenize
                )
                truncated += batch_truncated
                for offset, record in enumerate(records):
                    record["row"] = start + offset
                write_atomically(_part_path(parts_dir, start, end), _jsonl(records))
    finally:
        teacher.train(was_training)
    return truncated


def _read_parts(parts_dir: Path) -> list[dict]:
    """The records of every part file in `parts_dir`, in file-name order."""
    records = []
    for path in sorted(parts_dir.iterdir()):
        if PART_NAME.fullmatch(path.name):
            records.extend(_read_jsonl(path))
    return records


def _write_final_files(rows: Sequence[dict], meta: dict, final_path: Path, meta_path: Path, parts_dir: Path) -> None:
    """Writes the rows in order and the metadata (atomically), then removes the parts."""
    ordered = [{"row": i, **{name: row[name] for name in DISTILLED_COLUMNS}} for i, row in enumerate(rows)]
    write_atomically(final_path, _jsonl(ordered))
    write_atomically(meta_path, json.dumps(meta, indent=2) + "\n")
    shutil.rmtree(parts_dir, ignore_errors=True)


__all__ = [
    "DISTILLED_COLUMNS",
    "DISTILLED_HASH_COLUMN",
    "OLD_SOURCE_HASH_COLUMN",
    "DistillationConfig",
    "distill_dataset",
    "distillation_cache_key",
    "distilled_sha256",
    "hash_parameters",
    "labels_from_sequences",
    "mean_token_log_probs",
]
