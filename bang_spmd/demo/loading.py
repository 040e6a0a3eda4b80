"""Loading the demo's model once at startup: the model folder checked and loaded as by `bang-generate`, its modes,
card, examples, and one warm-up call of every mode (so that the times the page shows are not the first calls')."""

import time
from dataclasses import dataclass, field
from pathlib import Path

from bang_spmd.evaluation.decoding import check_device
from bang_spmd.pretrained import resolve_model_name
from bang_spmd.trainers.model_setup import load_pretrained_model, load_pretrained_tokenizer

from .card import CardSummary, card_summary, example_inputs
from .modes import DemoMode, default_max_new_tokens, demo_modes, warm_up


@dataclass
class DemoModel:
    """A loaded model with everything the page needs."""

    name: str
    model: object
    tokenizer: object
    modes: list[DemoMode]
    card: CardSummary
    examples: list[str]
    device: str
    max_new_tokens: int
    repeats: int = 1
    startup_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ngram(self) -> int:
        return int(getattr(self.model.config, "ngram", 1) or 1)

    @property
    def max_positions(self) -> int:
        return int(self.model.config.max_position_embeddings)

    def describe(self) -> str:
        """One line about the model and how the times are measured."""
        parameters = sum(p.numel() for p in self.model.parameters())
        return (
            f"Model `{self.name}`: {parameters:,} parameters, {self.ngram} predicting stream(s) (`config.ngram`), "
            f"inputs of at most {self.max_positions} tokens, outputs of at most {self.max_new_tokens} new tokens. "
            f"Times: the `generate` call of one input (batch 1) on `{self.device}`"
            + (f", the median of {self.repeats} calls" if self.repeats > 1 else "")
            + ", measured with `time.perf_counter` after a warm-up call of every mode at startup."
        )


def load_demo(
    name_or_path: str,
    device: str = "cpu",
    max_new_tokens: int | None = None,
    trust_remote_code: bool = False,
    examples_file: str | Path | None = None,
    examples_column: str = "text",
    repeats: int = 1,
    fallback_max_new_tokens: int | None = None,
) -> DemoModel:
    """The model `name_or_path` (a folder, a shipped model's name or a Hub id) ready for the page; every problem
    (a missing folder, no config.json, remote code without `trust_remote_code`, damaged weights, no output length,
    a bad examples file, a device this machine lacks) is a ValueError naming it, raised before the page starts.
    `fallback_max_new_tokens` is the output length when neither `max_new_tokens` nor the generation config sets one
    (a Space's default; the program has none, as `bang-generate`)."""
    began = time.perf_counter()
    check_device(device)
    if repeats < 1:
        raise ValueError(f"--repeats must be a positive integer, got {repeats}.")
    path = resolve_model_name(name_or_path)
    card = card_summary(path)
    examples = example_inputs(card, examples_file, examples_column)
    model = load_pretrained_model(path, "--model", trust_remote_code).to(device).eval()
    tokenizer = load_pretrained_tokenizer(path, "--model", trust_remote_code)
    config = model.generation_config
    if max_new_tokens is None and config.max_new_tokens is None and config.max_length is None:
        max_new_tokens = fallback_max_new_tokens
    modes = demo_modes(model, max_new_tokens)
    length = max_new_tokens or default_max_new_tokens(model) or model.generation_config.max_length
    warm_up(model, tokenizer, modes, examples[0])
    notes = [card.note] if card.note else []
    return DemoModel(
        str(name_or_path),
        model,
        tokenizer,
        modes,
        card,
        examples,
        device,
        int(length),
        repeats,
        time.perf_counter() - began,
        notes,
    )


__all__ = ["DemoModel", "load_demo"]
