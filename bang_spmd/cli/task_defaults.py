"""`--task NAME` on the command line: the task's columns, lengths, rows and metric as the defaults of a program's
flags (`bang_spmd.data.tasks`), so that `bang-finetune --task debtrans --train_file ...` needs no column flags.

The task's flags are put before the user's own, and a flag given twice takes its last value, so explicit flags win.
"""

import sys

from bang_spmd.data.tasks import get_task


def with_task_defaults(argv: list[str] | None, names: tuple[str, ...]) -> list[str]:
    """`argv` (default `sys.argv[1:]`) with the flags among `names` that its `--task` sets inserted first; `argv`
    unchanged without `--task`. The `--task` flag itself stays, for the programs that record it."""
    argv = list(sys.argv[1:] if argv is None else argv)
    task = None
    for index, item in enumerate(argv):
        if item == "--task" and index + 1 < len(argv):
            task = argv[index + 1]
        elif item.startswith("--task="):
            task = item.split("=", 1)[1]
    if task is None:
        return argv
    return [*get_task(task).flags(names), *argv]


TRAINING_FLAGS = (
    "source_columns",
    "target_column",
    "max_source_length",
    "max_target_length",
    "truncate_targets",
    "where",
    "validation_metric",
)
DECODING_FLAGS = ("source_columns", "target_column", "max_source_length", "max_new_tokens", "where")

__all__ = ["DECODING_FLAGS", "TRAINING_FLAGS", "with_task_defaults"]
