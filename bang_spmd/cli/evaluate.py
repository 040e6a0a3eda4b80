r"""`bang-evaluate`: decode a JSON Lines split with a saved BANG model in a chosen mode; report ROUGE, BLEU, METEOR
and the time per sample.

    HF_HUB_OFFLINE=1 bang-evaluate --task debtrans --model outputs/quickstart/nar-spmd \
        --data_file ../shared/data/debtrans-enfr/test.jsonl --decoding_mode nar --output_file predictions.jsonl
    HF_HUB_OFFLINE=1 bang-evaluate --model outputs/wndef-spmd --data_file ../shared/data/wndef/validation.jsonl \
        --source_columns word,example --target_column definition --decoding_mode ar --num_beams 4 --max_new_tokens 48

`--task` sets the columns, lengths and rows of a task (`bang_spmd.data.tasks`); explicit flags win.

How every model is scored is described in `bang_spmd.evaluation.split_evaluation`. `--decoding_mode ar` uses
`--num_beams` and `--length_penalty`; `semi_nar` uses `--semi_nar_block_size`, `--semi_nar_acceptance` and
`--semi_nar_confidence`. METEOR with `--meteor auto` (the default) only where WordNet is installed
(`bang-prepare-wordnet`). Prints one JSON line and writes the predictions with `--output_file`.
"""

import argparse
import json
from pathlib import Path

from bang_spmd.cli.model_flags import add_drop_unk_flag, add_trust_remote_code_flag
from bang_spmd.cli.task_defaults import DECODING_FLAGS, with_task_defaults
from bang_spmd.data.tasks import TASKS
from bang_spmd.evaluation.decoding import MODE_OPTIONS
from bang_spmd.evaluation.split_evaluation import (
    METEOR_CHOICES,
    Decoding,
    SplitEvaluation,
    default_device,
    evaluate_split,
)
from modeling_bang.generation_bang import DECODING_MODES, SEMI_NAR_ACCEPTANCE_RULES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bang-evaluate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="saved model folder (with its tokenizer)")
    parser.add_argument("--data_file", required=True, help="JSON Lines file with the source and target columns")
    parser.add_argument(
        "--task", choices=sorted(TASKS), default=None, help="its columns, lengths and rows are the defaults"
    )
    parser.add_argument("--where", default=None, help="only the rows whose COLUMN equals VALUE (COLUMN=VALUE[,...])")
    parser.add_argument(
        "--source_columns", default=SplitEvaluation.source_columns, help="comma-separated source columns"
    )
    parser.add_argument("--target_column", default=SplitEvaluation.target_column, help="target column")
    parser.add_argument(
        "--max_source_length",
        type=int,
        default=SplitEvaluation.max_source_length,
        help="source tokens, [SEP]s included",
    )
    parser.add_argument("--decoding_mode", choices=DECODING_MODES, default=Decoding.decoding_mode)
    parser.add_argument(
        "--max_new_tokens", type=int, default=Decoding.max_new_tokens, help="output length limit (NAR canvas length)"
    )
    parser.add_argument("--num_beams", type=int, default=None, help=f"AR beam size (default {Decoding.num_beams})")
    parser.add_argument(
        "--length_penalty",
        type=float,
        default=None,
        help=f"AR beam length penalty (default {Decoding.length_penalty})",
    )
    parser.add_argument(
        "--nar_eos_penalty",
        type=float,
        default=None,
        help=f"NAR: subtracted from the [SEP] score of every position (default {Decoding.nar_eos_penalty})",
    )
    parser.add_argument(
        "--semi_nar_block_size",
        type=int,
        default=None,
        help=f"tokens per semi-NAR step (default {Decoding.semi_nar_block_size})",
    )
    parser.add_argument(
        "--semi_nar_acceptance",
        choices=SEMI_NAR_ACCEPTANCE_RULES,
        default=None,
        help="semi-NAR proposals kept: all, verify (greedy AR's output) or confidence (above --semi_nar_confidence)",
    )
    parser.add_argument(
        "--semi_nar_confidence",
        type=float,
        default=None,
        help=f"a proposal's probability needed by --semi_nar_acceptance confidence ({Decoding.semi_nar_confidence})",
    )
    parser.add_argument("--batch_size", type=int, default=SplitEvaluation.batch_size)
    parser.add_argument("--max_samples", type=int, default=None, help="first N examples only")
    parser.add_argument("--device", default=default_device())
    parser.add_argument("--output_file", type=Path, default=None, help="write predictions as JSON Lines")
    parser.add_argument(
        "--meteor", choices=METEOR_CHOICES, default="auto", help="METEOR: where WordNet is found / always / no"
    )
    add_drop_unk_flag(parser)
    add_trust_remote_code_flag(parser)
    return parser


def main(argv: list[str] | None = None) -> dict:
    args = vars(build_parser().parse_args(with_task_defaults(argv, DECODING_FLAGS)))
    args.pop("task")
    for name in ("max_new_tokens", "num_beams", "semi_nar_block_size", "batch_size", "max_samples"):
        if args[name] is not None and args[name] < 1:
            raise ValueError(f"--{name} must be a positive integer, got {args[name]}.")
    mode = args["decoding_mode"]
    misplaced = [f"--{name}" for name, where in MODE_OPTIONS.items() if args[name] is not None and where != mode]
    if misplaced:  # a flag of another decoding mode would be ignored
        raise ValueError(f"{', '.join(misplaced)} only apply to another decoding mode than --decoding_mode {mode}.")
    names = ("decoding_mode", "max_new_tokens", *MODE_OPTIONS)
    given = {name: args.pop(name) for name in names}
    decoding = Decoding(**{name: value for name, value in given.items() if value is not None})
    result = evaluate_split(SplitEvaluation(decoding=decoding, **args))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    from bang_spmd.cli.console import run_program

    run_program(main, "bang-evaluate")
