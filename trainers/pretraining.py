"""BANG pretraining: span masking and a `Trainer` for the cross-stream visible n-stream objective.

BANG (Qi et al., ICML 2021, arXiv 2012.15525, section 3) pretrains an encoder-decoder as a masked sequence-to-sequence
model: spans of the source are corrupted in the encoder input and the decoder predicts them with `config.ngram`
cross-stream visible predicting streams (`BangForConditionalGeneration.forward(..., mode="ngram")`). The data format
follows the official code (microsoft/BANG, first commit, `bang/bang/masked_dataset.py` and the comment of
`extract_features_AR` in `bang/bang/bang_AR_NAR_mixed.py`): for a masked span x_q .. x_{q+L-1} (1-based positions
q .. q+L-1 in the source) the targets are x_q .. x_{q+L-1}, the main-stream inputs are the previous tokens
x_{q-1} .. x_{q+L-2} with their real positions q-1 .. q+L-2 as `decoder_position_ids`, and `target_span_index`
counts 0 .. L-1 inside the span, so stream s is trained on the span tokens whose index is at least s. The spans of
all blocks of one example are concatenated in the decoder (causal across spans, as in ProphetNet pretraining).

What follows the official code: one contiguous span per block of `block_size` (64) tokens, span length
`floor(mask_ratio * block_len)` (9 of 64 at 15 %, `int(len(block) * mask_prob)` in `masked_dataset.py`), span tokens
replaced 80 % `[MASK]` / 10 % random / 10 % kept, drawn per token, randomness seeded by (seed, epoch, example).

This package's choices (documented, not in the paper): blocks start at the first token of the sequence (the
official blocks start at the second); the span never covers the first token (the main stream needs the previous
token) nor the last one (the final `[SEP]`); the span length has a minimum of 1, and a block whose allowed positions
cannot hold the span (e.g. a trailing block made only of the final `[SEP]`) is skipped; random replacements are drawn
uniformly from the vocabulary without `special_token_ids`; an example's random stream is seeded by a hash of
(`seed`, `epoch`, its `idx` field, or its token ids when it has none), so the masking of an example does not depend
on the batch it falls in, on the order of the data or on the number of data-loader workers, and a resumed run masks
exactly as the interrupted one.
"""

import hashlib
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import datasets
import torch
from transformers import Trainer, TrainerCallback
from transformers.utils import logging

from modeling_bang.modeling_bang import build_stream_labels

from .recipe import BangTrainerMixin


logger = logging.get_logger(__name__)

EXAMPLE_INDEX_KEY = "idx"
DECODER_COLUMNS = ("labels", "decoder_input_ids", "decoder_position_ids", "target_span_index")
PRETRAINING_COLUMNS = ("input_ids", "attention_mask", *DECODER_COLUMNS)
STREAM_LOSS_KEY = "pretrain/stream_{}_loss"


def chunk_token_ids(token_ids: list[int], max_length: int, sep_token_id: int) -> list[list[int]]:
    """Splits one document's ids into ceil(n / (max_length - 1)) near-equal chunks, each followed by `[SEP]`.

    Every id appears in exactly one chunk, in order; an empty document gives no chunk.
    """
    if max_length < 2:
        raise ValueError(f"`max_source_length` must be at least 2 (one token and [SEP]), got {max_length}.")
    n = len(token_ids)
    if n == 0:
        return []
    num_chunks = math.ceil(n / (max_length - 1))
    base, extra = divmod(n, num_chunks)
    chunks, start = [], 0
    for i in range(num_chunks):
        size = base + (1 if i < extra else 0)
        chunks.append(list(token_ids[start : start + size]) + [sep_token_id])
        start += size
    return chunks


def pack_chunks(chunks: list[list[int]], max_length: int) -> list[list[int]]:
    """Concatenates consecutive chunks (each ending with `[SEP]`) into sequences of at most `max_length` tokens, in
    order: a chunk starts a new sequence when it does not fit in the current one. Every token appears once."""
    packed: list[list[int]] = []
    for chunk in chunks:
        if packed and len(packed[-1]) + len(chunk) <= max_length:
            packed[-1] = packed[-1] + chunk
        else:
            packed.append(list(chunk))
    return packed


def tokenize_and_chunk(
    dataset: datasets.Dataset,
    tokenizer,
    max_length: int,
    what: str,
    num_proc: int | None = None,
    pack: bool = False,
) -> datasets.Dataset:
    """The `text` column of `dataset` tokenized without special tokens and cut into `chunk_token_ids` chunks of at
    most `max_length` tokens, as `input_ids`, with an `idx` column (the chunk's index, for the masking seed).

    With `pack=True` consecutive chunks are concatenated up to `max_length` tokens (`pack_chunks`, within each batch
    of 1,000 documents that `datasets.map` hands over), so that short documents (synopses, glosses) give the spans
    the context of full-length sequences, as the official pretraining data (long Wikipedia and BookCorpus text cut
    into 512-token sequences) does; this package's option for corpora of short documents.
    """
    sep_token_id = tokenizer.sep_token_id

    def chunk(batch):
        texts = [" ".join(t.split()) if isinstance(t, str) else "" for t in batch["text"]]
        ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
        chunks = [c for doc in ids for c in chunk_token_ids(doc, max_length, sep_token_id)]
        return {"input_ids": pack_chunks(chunks, max_length) if pack else chunks}

    chunked = dataset.map(
        chunk,
        batched=True,
        remove_columns=dataset.column_names,
        num_proc=num_proc,
        desc=f"Tokenizing and chunking the {what} texts",
    )
    return chunked.map(lambda _, i: {"idx": i}, with_indices=True, desc=f"Indexing the {what} chunks")


@dataclass
class BangSpanMaskingCollator:
    """Masks one contiguous span per block of each example and pads a batch for BANG n-stream pretraining.

    Each example is a dict with `input_ids` (a tokenized source ending with `[SEP]`, as `tokenizer(text)` gives it)
    and optionally an integer `idx` (its index in the data set). Examples that already hold the masked columns of
    `mask_spans_for_dataset` (`labels`, `decoder_input_ids`, `decoder_position_ids`, `target_span_index`) are only
    padded, so masking can be precomputed with `datasets.Dataset.map` or done on the fly with the same result.

    Args:
        mask_token_id: id of `[MASK]`.
        pad_token_id: id of `[PAD]`.
        vocab_size: size of the vocabulary random replacements are drawn from.
        special_token_ids: ids never used as random replacements (`[PAD]`, `[CLS]`, `[SEP]`, `[MASK]`, `[UNK]` ...).
        block_size: the sequence is cut into consecutive blocks of this many tokens (the last may be shorter).
        mask_ratio: span length of a block of `n` tokens is `max(1, floor(mask_ratio * n))` (9 for 64 at 0.15).
        mask_prob / random_prob: per span token, probability of `[MASK]` / of a random token; the rest is kept.
        seed: base seed of the masking.
        epoch: mixed into every example's seed; `MaskingEpochCallback` (added by `BangPretrainingTrainer`) sets it
            to the training epoch so that each epoch sees new masks, as the official `set_epoch`.

    Returns (from `__call__`), right-padded torch tensors:
        `input_ids` / `attention_mask` (batch, S): the corrupted source;
        `labels` (batch, T): the concatenated span tokens, -100 on padding;
        `decoder_input_ids` (batch, T): the token before each target, `pad_token_id` on padding;
        `decoder_position_ids` (batch, T): the real (1-based) source position of each decoder input; padding repeats
            position 1 because the model requires positions in [1, max_position_embeddings]. Padding positions are
            never trained (their labels are -100) and never seen by real positions (the decoder is causal and the
            padding comes last), so their value does not matter;
        `target_span_index` (batch, T): index of each target inside its span, 0 on padding.
    When no example of the batch has a span (all too short: a span needs at least 3 tokens, one before it and the
    final `[SEP]` after it), the decoder columns have length 1 and hold only padding, so the loss is 0.
    """

    mask_token_id: int
    pad_token_id: int
    vocab_size: int
    special_token_ids: Sequence[int] = ()
    block_size: int = 64
    mask_ratio: float = 0.15
    mask_prob: float = 0.8
    random_prob: float = 0.1
    seed: int = 0
    epoch: int = 0
    _replacement_ids: torch.Tensor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("mask_token_id", "pad_token_id"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < self.vocab_size:
                raise ValueError(f"`{name}` must be a token id in [0, {self.vocab_size}), got {value!r}.")
        if isinstance(self.block_size, bool) or not isinstance(self.block_size, int) or self.block_size < 1:
            raise ValueError(f"`block_size` must be a positive integer, got {self.block_size!r}.")
        if not 0.0 < self.mask_ratio <= 1.0:
            raise ValueError(f"`mask_ratio` must be in (0, 1], got {self.mask_ratio!r}.")
        for name in ("mask_prob", "random_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"`{name}` must be a probability in [0, 1], got {getattr(self, name)!r}.")
        if self.mask_prob + self.random_prob > 1.0 + 1e-9:
            raise ValueError(
                f"`mask_prob + random_prob` must not exceed 1, got {self.mask_prob} + {self.random_prob}."
            )
        special = {int(i) for i in self.special_token_ids} | {self.mask_token_id, self.pad_token_id}
        allowed = [i for i in range(self.vocab_size) if i not in special]
        if not allowed and self.random_prob > 0:
            raise ValueError("Every vocabulary id is special: no token is left for random replacements.")
        self._replacement_ids = torch.tensor(allowed, dtype=torch.long)

    @classmethod
    def from_tokenizer(cls, tokenizer, **kwargs: Any) -> "BangSpanMaskingCollator":
        """Takes `[MASK]`, `[PAD]`, the vocabulary size and the special ids from a (BANG) tokenizer."""
        if tokenizer.mask_token_id is None or tokenizer.pad_token_id is None:
            raise ValueError("The tokenizer needs a mask token and a pad token for span masking.")
        return cls(
            mask_token_id=tokenizer.mask_token_id,
            pad_token_id=tokenizer.pad_token_id,
            vocab_size=len(tokenizer),
            special_token_ids=tuple(tokenizer.all_special_ids),
            **kwargs,
        )

    def span_length(self, block_len: int) -> int:
        """`max(1, floor(mask_ratio * block_len))`; the small epsilon absorbs float error (0.15 * 20 = 3.0000...04)."""
        return max(1, math.floor(self.mask_ratio * block_len + 1e-9))

    def _generator(self, input_ids: Sequence[int], idx: int | None) -> torch.Generator:
        if idx is None:
            key = "tokens:" + ",".join(map(str, input_ids))
        else:
            if isinstance(idx, bool) or not isinstance(idx, numbers.Integral):
                raise ValueError(f"The example field `{EXAMPLE_INDEX_KEY}` must be an integer, got {idx!r}.")
            key = f"idx:{int(idx)}"
        digest = hashlib.blake2b(f"{self.seed}|{self.epoch}|{key}".encode(), digest_size=8).digest()
        return torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))

    def mask_example(self, input_ids: Sequence[int], idx: int | None = None) -> dict[str, list[int]]:
        """Masks one example; returns the unpadded columns (`input_ids` corrupted, and the decoder columns)."""
        if isinstance(input_ids, torch.Tensor):
            input_ids = input_ids.tolist()
        ids = [int(i) for i in input_ids]
        if not ids:
            raise ValueError("An example has empty `input_ids`; drop empty texts before masking.")
        generator = self._generator(ids, idx)
        n = len(ids)
        corrupted = list(ids)
        labels, previous, positions, span_index = [], [], [], []
        for block_start in range(0, n, self.block_size):  # 0-based start; 1-based positions block_start+1 ..
            block_len = min(self.block_size, n - block_start)
            length = self.span_length(block_len)
            first = max(block_start + 1, 2)  # 1-based: never the first token
            last = min(block_start + block_len, n - 1)  # 1-based: never the final [SEP]
            choices = last - first + 1 - length + 1
            if choices < 1:
                continue
            start = first + int(torch.randint(choices, (1,), generator=generator))
            draws = torch.rand(length, generator=generator).tolist()
            random_ids = torch.randint(len(self._replacement_ids) or 1, (length,), generator=generator).tolist()
            for j in range(length):
                position = start + j  # 1-based position of the target
                labels.append(ids[position - 1])
                previous.append(ids[position - 2])
                positions.append(position - 1)
                span_index.append(j)
                if draws[j] < self.mask_prob:
                    corrupted[position - 1] = self.mask_token_id
                elif draws[j] < self.mask_prob + self.random_prob:
                    corrupted[position - 1] = int(self._replacement_ids[random_ids[j]])
        return {
            "input_ids": corrupted,
            "labels": labels,
            "decoder_input_ids": previous,
            "decoder_position_ids": positions,
            "target_span_index": span_index,
        }

    def pad(self, features: Sequence[dict[str, Sequence[int]]]) -> dict[str, torch.Tensor]:
        """Right-pads masked examples into the tensors described in the class docstring."""
        if not features:
            raise ValueError("Cannot collate an empty list of examples.")
        source_len = max(len(f["input_ids"]) for f in features)
        target_len = max(1, max(len(f["labels"]) for f in features))
        batch = len(features)
        out = {
            "input_ids": torch.full((batch, source_len), self.pad_token_id, dtype=torch.long),
            "attention_mask": torch.zeros((batch, source_len), dtype=torch.long),
            "labels": torch.full((batch, target_len), -100, dtype=torch.long),
            "decoder_input_ids": torch.full((batch, target_len), self.pad_token_id, dtype=torch.long),
            "decoder_position_ids": torch.ones((batch, target_len), dtype=torch.long),
            "target_span_index": torch.zeros((batch, target_len), dtype=torch.long),
        }
        for row, feature in enumerate(features):
            lengths = {len(feature[name]) for name in DECODER_COLUMNS}
            if len(lengths) != 1:
                raise ValueError(f"Example {row} has decoder columns of different lengths {sorted(lengths)}.")
            source = torch.as_tensor(list(feature["input_ids"]), dtype=torch.long)
            out["input_ids"][row, : len(source)] = source
            out["attention_mask"][row, : len(source)] = 1
            for name in DECODER_COLUMNS:
                values = torch.as_tensor(list(feature[name]), dtype=torch.long)
                out[name][row, : len(values)] = values
        return out

    def __call__(self, examples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        features = []
        for row, example in enumerate(examples):
            if "input_ids" not in example:
                raise ValueError(f"Example {row} has no `input_ids` column (columns: {sorted(example)}).")
            if all(name in example for name in DECODER_COLUMNS):
                features.append(example)  # masked beforehand by `mask_spans_for_dataset`
            else:
                features.append(self.mask_example(example["input_ids"], example.get(EXAMPLE_INDEX_KEY)))
        return self.pad(features)


def mask_spans_for_dataset(batch: dict[str, list], collator: BangSpanMaskingCollator) -> dict[str, list[list[int]]]:
    """Precomputes the masking for `datasets.Dataset.map(..., batched=True, fn_kwargs={"collator": collator})`.

    Takes the columns `input_ids` and optionally `idx`; returns `input_ids` (corrupted) and the decoder columns as
    lists of lists. The collator then only pads these rows, and the padded batch equals what the collator would have
    produced from the raw rows with the same seed and epoch.
    """
    if "input_ids" not in batch:
        raise ValueError(f"The dataset has no `input_ids` column (columns: {sorted(batch)}).")
    indices = batch.get(EXAMPLE_INDEX_KEY) or [None] * len(batch["input_ids"])
    out: dict[str, list[list[int]]] = {name: [] for name in ("input_ids", *DECODER_COLUMNS)}
    for input_ids, idx in zip(batch["input_ids"], indices, strict=True):
        for name, values in collator.mask_example(input_ids, idx).items():
            out[name].append(values)
    return out


class MaskingEpochCallback(TrainerCallback):
    """Sets `collator.epoch` to the training epoch at the start of every epoch (new masks each epoch).

    With `dataloader_persistent_workers=True` the workers keep their own copy of the collator and miss the update.
    """

    def __init__(self, collator: BangSpanMaskingCollator):
        self.collator = collator

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.collator.epoch = math.floor((state.epoch or 0.0) + 1e-6)


class BangPretrainingTrainer(BangTrainerMixin, Trainer):
    """`transformers.Trainer` for BANG's cross-stream visible n-stream pretraining objective.

    `compute_loss` runs the model in `mode="ngram"` on the collator's columns (`BangSpanMaskingCollator`), keeps each
    step's per-stream losses and `log` reports their mean since the last log as `pretrain/stream_{s}_loss`
    (`eval_pretrain/stream_{s}_loss` for evaluation; the buffering follows TRL's trainers). The token count used to
    normalise the loss over gradient-accumulation steps (`num_items_in_batch`) counts every stream's trained tokens
    (stream s counts a target when its `target_span_index >= s`), so the loss equals the model's own loss of the
    accumulated batch. `BangTrainerMixin` gives the recipe's batch order and label smoothing. The data set may keep an
    `idx` column for the collator's seeding.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.compute_loss_func is not None:
            raise ValueError("`compute_loss_func` is not supported: the loss is the model's n-stream loss.")
        self._stream_losses: dict[str, list[torch.Tensor]] = {"train": [], "eval": []}
        if isinstance(self.data_collator, BangSpanMaskingCollator):
            self.add_callback(MaskingEpochCallback(self.data_collator))

    def _num_streams(self) -> int:
        return self.accelerator.unwrap_model(self.model).config.ngram

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if EXAMPLE_INDEX_KEY not in self._signature_columns:
            self._signature_columns.append(EXAMPLE_INDEX_KEY)

    def _get_num_items_in_batch(self, batch_samples: list, device: torch.device) -> torch.Tensor | int | None:
        num_streams = self._num_streams()
        proxies = [
            {"labels": build_stream_labels(b["labels"], b.get("target_span_index"), num_streams)}
            for b in batch_samples
            if isinstance(b, dict) and isinstance(b.get("labels"), torch.Tensor)
        ]
        return super()._get_num_items_in_batch(proxies if proxies else batch_samples, device)

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ):
        missing = [name for name in PRETRAINING_COLUMNS if name not in inputs]
        if missing:
            raise ValueError(f"The pretraining batch lacks the column(s) {missing}; use `BangSpanMaskingCollator`.")
        model_inputs = {name: inputs[name] for name in PRETRAINING_COLUMNS}
        model_inputs["mode"] = "ngram"
        loss, outputs = super().compute_loss(
            model, model_inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
        )
        self._stream_losses["train" if model.training else "eval"].append(outputs.stream_losses.detach().float())
        return (loss, outputs) if return_outputs else loss

    def _mean_stream_losses(self, split: str) -> list[float] | None:
        buffer = self._stream_losses[split]
        if not buffer:
            return None
        mean = torch.stack(buffer).mean(0)
        buffer.clear()
        if self.args.world_size > 1:
            mean = self.accelerator.reduce(mean.to(self.args.device), reduction="mean")
        return mean.tolist()

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        split = "train" if self.model.training else "eval"
        means = self._mean_stream_losses(split)
        if means is not None:
            prefix = ""
            if split == "eval":
                loss_keys = [k for k in logs if k.endswith("_loss")]
                prefix = (loss_keys[0][: -len("loss")] if loss_keys else "eval_") or "eval_"
            for stream, value in enumerate(means):
                logs[prefix + STREAM_LOSS_KEY.format(stream)] = value
        super().log(logs, start_time)


__all__ = [
    "BangPretrainingTrainer",
    "BangSpanMaskingCollator",
    "DECODER_COLUMNS",
    "EXAMPLE_INDEX_KEY",
    "MaskingEpochCallback",
    "PRETRAINING_COLUMNS",
    "STREAM_LOSS_KEY",
    "chunk_token_ids",
    "mask_spans_for_dataset",
    "pack_chunks",
    "tokenize_and_chunk",
]
