"""NAR decoding for the validation checks of the training programs: one decoder pass per batch, texts out.

What a program scores these texts with (ROUGE-L for model selection) is the caller's choice: `bang_spmd.evaluation`
holds the metrics, and `nar_generation_metrics` wraps any of them into a `compute_metrics` for the Trainer.
"""

from collections.abc import Callable, Sequence

import datasets
import numpy as np
from tqdm.auto import tqdm

from modeling_bang.generation_bang import collapse_repeated_words

from .seq2seq_data import Seq2SeqCollator


# A metric: predictions and references (texts) -> named scores.
TextMetric = Callable[[Sequence[str], Sequence[str]], dict[str, float]]


def decode_nar(model, tokenizer, dataset: datasets.Dataset, canvas_length: int, batch_size: int, device) -> list[str]:
    """The texts of one NAR pass per batch over the `input_ids` of `dataset` (canvas `canvas_length`), decoded with
    `skip_special_tokens=True` and their repeated words collapsed (the official post-processing)."""
    model.eval()
    collator = Seq2SeqCollator(tokenizer.pad_token_id, "nar")
    predictions = []
    for start in tqdm(range(0, len(dataset), batch_size), desc="NAR decoding"):
        rows = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        batch = collator(rows)
        ids = model.generate(
            batch["input_ids"].to(device),
            attention_mask=batch["attention_mask"].to(device),
            decoding_mode="nar",
            max_new_tokens=canvas_length,
        )
        predictions += [
            collapse_repeated_words(text) for text in tokenizer.batch_decode(ids, skip_special_tokens=True)
        ]
    return predictions


def nar_generation_metrics(tokenizer, metric: TextMetric) -> Callable:
    """A Trainer `compute_metrics` for `predict_with_generate`: `metric` of the NAR outputs (repeated words
    collapsed) against the detokenized gold targets. The labels are gathered with the predictions, so it is right
    under several processes; [UNK] pieces drop out of both sides."""

    def decode(ids):
        return tokenizer.batch_decode(np.where(ids == -100, tokenizer.pad_token_id, ids), skip_special_tokens=True)

    def compute_metrics(prediction) -> dict:
        texts = [collapse_repeated_words(t) for t in decode(prediction.predictions)]
        return metric(texts, decode(prediction.label_ids))

    return compute_metrics


__all__ = ["TextMetric", "decode_nar", "nar_generation_metrics"]
