"""Write the pretraining text of the shared data sets to a text file, one document per line.

    bang-prepare-pretraining-text --output_file outputs/pretraining_text.txt
    bang-prepare-pretraining-text --split validation --output_file outputs/pretraining_valid.txt

By default only TRAIN splits are read: the debsum `document` fields and the wndef `example` fields of
`train.jsonl`, so no validation or test text (and no target: summaries and definitions are left out) leaks into
pretraining. `--split validation` writes the same fields of `validation.jsonl`, for the pretraining script's
`--validation_files` (evaluation loss only; never pass it to `--train_files`). Runs of
whitespace, newlines included, become one space; empty texts are skipped. The file is the input of
`bang_spmd/pretrain_bang.py --train_files`.
"""

import argparse
import json
from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCES = {"debsum": "document", "wndef": "example"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bang-prepare-pretraining-text", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data_dir", type=Path, default=REPO_ROOT.parent / "shared" / "data", help="folder holding debsum/ and wndef/"
    )
    parser.add_argument("--split", default="train", choices=["train", "validation"], help="split to read")
    parser.add_argument("--datasets", nargs="+", default=sorted(SOURCES), choices=sorted(SOURCES))
    parser.add_argument("--output_file", type=Path, required=True, help="text file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.output_file.exists() and not args.overwrite:
        raise SystemExit(f"{args.output_file} exists; pass --overwrite to replace it.")
    args.output_file.parent.mkdir(parents=True, exist_ok=True)
    counts = {}
    with open(args.output_file, "w", encoding="utf-8") as out:
        for name in args.datasets:
            path = args.data_dir / name / f"{args.split}.jsonl"
            if not path.is_file():
                raise SystemExit(f"{path} does not exist; pass --data_dir pointing at the folder holding {name}/.")
            counts[name] = 0
            with open(path, encoding="utf-8") as f:
                for line_number, line in enumerate(f, 1):
                    record = json.loads(line)
                    if SOURCES[name] not in record:
                        raise SystemExit(f"{path}:{line_number} has no {SOURCES[name]!r} field.")
                    text = " ".join(str(record[SOURCES[name]]).split())
                    if text:
                        out.write(text + "\n")
                        counts[name] += 1
    print(f"wrote {sum(counts.values())} documents ({counts}) to {args.output_file}")


if __name__ == "__main__":
    main()
