"""What the demo page shows besides the outputs: the model card's headline numbers and the example inputs.

`card_summary(folder)` reads a model folder's `README.md` with `huggingface_hub.ModelCard`: the `model-index`
results (`Headline`: metric, value, data set, split) and the example texts of its usage snippet (the
`tokenizer([...])` call `bang_spmd.model_cards` writes; its placeholder text is skipped). A folder without a card,
or a card without metadata, gives an empty summary; a card that cannot be parsed gives a note instead of an error.
`example_inputs` picks the examples: an `--examples_file` (JSON Lines, one column), else the card's, else
`DEFAULT_EXAMPLES` (Debian package descriptions, the inputs of the quickstart's debsum task).
"""

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from bang_spmd.data.jsonl import iter_jsonl_file
from bang_spmd.trainers.seq2seq_data import check_text


DEFAULT_EXAMPLES = [  # inputs of the quickstart's task (debsum: a Debian package description -> its synopsis)
    "This package provides a command-line tool that converts images between many file formats and resizes them.",
    "This package contains the Python bindings for the GTK graphical toolkit, so that Python programs can build "
    "graphical user interfaces.",
    "This package contains the documentation of the network file server, in HTML and as manual pages.",
]
PLACEHOLDER_EXAMPLES = {"Replace this with a source text of the kind the model was trained on."}
MAX_EXAMPLES = 10
_SNIPPET_TEXTS = re.compile(r"tokenizer\((\[.*?\])[,)]")


@dataclass(frozen=True)
class Headline:
    """One `model-index` result of the card."""

    metric: str
    value: float | int | str
    dataset: str | None = None
    split: str | None = None


@dataclass
class CardSummary:
    """The card's model name, headline results and example texts; `note` when the card could not be read."""

    model_name: str | None = None
    headlines: list[Headline] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    note: str | None = None

    def markdown(self) -> str:
        """The headline results as a Markdown table (empty when there are none)."""
        if not self.headlines:
            return ""
        lines = ["| metric | value | data set | split |", "|---|---|---|---|"]
        for h in self.headlines:
            value = f"{h.value:.2f}" if isinstance(h.value, float) else str(h.value)
            lines.append(f"| {h.metric} | {value} | {h.dataset or ''} | {h.split or ''} |")
        return "\n".join(lines)


def snippet_examples(text: str) -> list[str]:
    """The source texts of the card's usage snippet (`tokenizer(["...", ...], ...)`), placeholders left out."""
    found = []
    for match in _SNIPPET_TEXTS.finditer(text):
        try:
            values = ast.literal_eval(match.group(1))
        except (ValueError, SyntaxError):
            continue
        found += [v for v in values if isinstance(v, str) and v.strip() and v not in PLACEHOLDER_EXAMPLES]
    return list(dict.fromkeys(found))


def card_summary(name_or_path: str) -> CardSummary:
    """The summary of the card in the folder `name_or_path` (module docstring); for a Hub id, the Hub's card when it
    can be fetched (a Space), else an empty summary."""
    from huggingface_hub import ModelCard

    folder = Path(name_or_path).expanduser()
    source = folder / "README.md" if folder.is_dir() else None
    if folder.is_dir() and not source.is_file():
        return CardSummary()
    try:
        card = ModelCard.load(source if source is not None else name_or_path)
    except Exception as error:  # a malformed YAML header, no network for a Hub id: the page goes on without it
        reason = " ".join(str(error).split())[:300]
        return CardSummary(note=f"The model card could not be read ({type(error).__name__}: {reason}).")
    data = card.data
    headlines = [
        Headline(
            result.metric_name or result.metric_type, result.metric_value, result.dataset_name, result.dataset_split
        )
        for result in (data.eval_results or [])
    ]
    return CardSummary(data.model_name, headlines, snippet_examples(card.text))


def examples_from_file(path: str | Path, column: str) -> list[str]:
    """The `column` texts of a JSON Lines file (at most `MAX_EXAMPLES`); a ValueError naming the line of a row
    without the column or whose value is no text."""
    texts = []
    for where, row in iter_jsonl_file(path):
        if column not in row:
            raise ValueError(f"{where} has no column {column!r} (columns: {sorted(row)}); pass --examples_column.")
        check_text(row[column], where, column)
        texts.append(" ".join(row[column].split()))
        if len(texts) == MAX_EXAMPLES:
            break
    if not texts:
        raise ValueError(f"--examples_file {path} holds no example.")
    return texts


def example_inputs(card: CardSummary, examples_file: str | Path | None = None, column: str = "text") -> list[str]:
    """The page's examples: those of `examples_file`, else the card's, else `DEFAULT_EXAMPLES`."""
    if examples_file is not None:
        return examples_from_file(examples_file, column)
    return card.examples[:MAX_EXAMPLES] or list(DEFAULT_EXAMPLES)


__all__ = [
    "DEFAULT_EXAMPLES",
    "CardSummary",
    "Headline",
    "card_summary",
    "example_inputs",
    "examples_from_file",
    "snippet_examples",
]
