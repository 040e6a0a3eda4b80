"""`bang-prepare-pretraining-text`: write the pretraining text of the shared data sets to a text file, one document
per line.

    bang-prepare-pretraining-text --output_file outputs/pretraining_text.txt
    bang-prepare-pretraining-text --split validation --output_file outputs/pretraining_valid.txt

By default only TRAIN splits are read, both sides of every pair (`bang_spmd.data.text_corpus.TEXT_FIELDS`: debtrans
English and French, debsum documents and synopses, wndef examples and glosses), so no validation or test text leaks
into pretraining. `--split validation` writes the same fields of `validation.jsonl`, for `bang-pretrain
--validation_files` (evaluation loss only; never pass it to `--train_files`). Runs of whitespace, newlines included,
become one space; empty texts are skipped (`bang_spmd.data.text_corpus.write_pretraining_text`). The file is the
input of `bang-pretrain --train_files`.
"""

import argparse
from pathlib import Path

from bang_spmd.data.text_corpus import DEFAULT_DATA_DIR, TEXT_FIELDS, write_pretraining_text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bang-prepare-pretraining-text", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data_dir", type=Path, default=DEFAULT_DATA_DIR, help="folder of the data sets")
    parser.add_argument("--split", default="train", choices=["train", "validation"], help="split to read")
    parser.add_argument(
        "--datasets", nargs="+", default=list(TEXT_FIELDS), choices=list(TEXT_FIELDS), help="in this order"
    )
    parser.add_argument("--output_file", type=Path, required=True, help="text file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.output_file.exists() and not args.overwrite:
        raise SystemExit(f"{args.output_file} exists; pass --overwrite to replace it.")
    try:
        counts = write_pretraining_text(args.data_dir, args.datasets, args.split, args.output_file)
    except ValueError as error:  # a missing data set or field
        raise SystemExit(str(error)) from error
    print(f"wrote {sum(counts.values())} documents ({counts}) to {args.output_file}")


if __name__ == "__main__":
    from bang_spmd.cli.console import run_program

    run_program(main, "bang-prepare-pretraining-text")
