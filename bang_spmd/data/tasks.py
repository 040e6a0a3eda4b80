"""The generation tasks this package knows: where their pairs are, how long they are, and how they are scored.

A `Task` names the source and target columns of a data set's JSON Lines rows, the rows that belong to the task
(`where`: debtrans holds synopses and paragraphs; its task is the synopses), the token lengths its models are built
for, and its metrics, the first of which selects models and measures the AR-NAR gap. `--task NAME` gives the
programs these defaults (`bang-finetune`, `bang-train`, `bang-distill`, `bang-evaluate`, `bang-evidence`,
`bang-quickstart`); explicit flags still win.

The lengths are this package's choice, measured with the 8,000-piece tokenizer of the shipped BANG-mini:
debtrans synopses are at most 39 (English) and 40 (French) tokens with `[SEP]`, so 48 truncates nothing; debsum
documents are cut to 128 tokens (the 99th percentile is 366) and summaries to 32 (99th percentile 25); wndef inputs
and glosses to 48 (99th percentiles 29 and 38).
"""

from dataclasses import dataclass

import datasets


@dataclass(frozen=True)
class Task:
    """One generation task (module docstring); `metrics` are keys of `compute_generation_metrics`'s result."""

    name: str
    data_set: str  # the folder name of its data set under a data directory
    source_columns: str
    target_column: str
    max_source_length: int
    max_target_length: int
    metrics: tuple[str, ...]
    where: str | None = None  # the rows of the task, as `--where` takes it (`parse_where`)
    description: str = ""

    @property
    def selection_metric(self) -> str:
        """The metric that selects models and measures the AR-NAR gap."""
        return self.metrics[0]

    def flags(self, names: tuple[str, ...]) -> list[str]:
        """The command-line flags among `names` that this task sets (the programs' `--task` defaults):
        `source_columns`, `target_column`, `max_source_length`, `max_target_length`, `max_new_tokens` (the target
        length), `truncate_targets` (a set flag), `validation_metric` (the selection metric), `where`."""
        values = {
            "source_columns": self.source_columns,
            "target_column": self.target_column,
            "max_source_length": self.max_source_length,
            "max_target_length": self.max_target_length,
            "max_new_tokens": self.max_target_length,
            "validation_metric": self.selection_metric,
            "where": self.where,
        }
        argv = []
        for name in names:
            if name == "truncate_targets":
                argv.append("--truncate_targets")
            elif values.get(name) is not None:
                argv += [f"--{name}", str(values[name])]
        return argv


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("debtrans", "debtrans-enfr", "en", "fr", 48, 48, ("bleu4", "chrf"), "kind=synopsis",
             "English -> French translation of Debian package synopses"),
        Task("debsum", "debsum", "document", "summary", 128, 32, ("rougeL_f1", "rouge1_f1", "rouge2_f1", "bleu4"),
             description="Debian package description -> one-line synopsis"),
        Task("wndef", "wndef", "word,example", "definition", 48, 48, ("rougeL_f1", "rouge1_f1", "bleu4"),
             description="WordNet word and usage example -> gloss"),
        Task("squad-qg", "squad-qg", "answer,context", "question", 256, 40, ("rougeL_f1", "bleu4", "meteor"),
             description="SQuAD 1.1 answer and paragraph -> question"),
        Task("xsum", "xsum", "document", "summary", 512, 64, ("rouge1_f1", "rouge2_f1", "rougeL_f1"),
             description="BBC article -> one-sentence summary"),
    )
}  # fmt: skip


def parse_where(where: str) -> dict[str, str]:
    """`COLUMN=VALUE[,COLUMN=VALUE...]` -> {column: value}; a ValueError naming the malformed part."""
    conditions = {}
    for part in where.split(","):
        column, sep, value = part.partition("=")
        if not sep or not column.strip():
            raise ValueError(f"--where takes COLUMN=VALUE[,COLUMN=VALUE...], got {where!r} (part {part!r}).")
        conditions[column.strip()] = value.strip()
    return conditions


def select_where(dataset: datasets.Dataset, where: str | None, what: str = "data") -> datasets.Dataset:
    """The rows of `dataset` whose columns equal every `where` value (compared as text); all rows for None.

    A ValueError names a `where` column the data lacks, and a selection that keeps no row.
    """
    if where is None:
        return dataset
    conditions = parse_where(where)
    missing = [c for c in conditions if c not in dataset.column_names]
    if missing:
        raise ValueError(f"--where names column(s) {missing} that the {what} lacks (columns: {dataset.column_names}).")
    kept = dataset.filter(
        lambda row: all(str(row[c]) == v for c, v in conditions.items()), desc=f"Selecting the {what} rows"
    )
    if len(kept) == 0:
        raise ValueError(f"No row of the {what} matches --where {where!r} (of {len(dataset)} rows).")
    return kept


def get_task(name: str) -> Task:
    """The task called `name`; a ValueError listing the known tasks otherwise."""
    if name not in TASKS:
        raise ValueError(f"Unknown task {name!r}; known tasks: {sorted(TASKS)}.")
    return TASKS[name]


__all__ = ["TASKS", "Task", "get_task", "parse_where", "select_where"]
