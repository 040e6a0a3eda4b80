r"""`bang-prepare-data`: build the generation data sets as train/validation/test JSON Lines from their public sources.

    # debsum from Debian's DDTP index (apt-get into a private folder, with this machine's apt sources):
    bang-prepare-data debsum --fetch --workdir outputs/apt-ddtp --output_dir outputs/data/debsum
    # ... or from a Translation-en file you already have (uncompressed):
    bang-prepare-data debsum --translation_file Translation-en --output_dir outputs/data/debsum
    # debtrans-enfr (English -> French) from the DDTP indexes Translation-en and Translation-fr:
    bang-prepare-data debtrans --lang fr --fetch --workdir outputs/apt-ddtp --output_dir outputs/data/debtrans-enfr
    bang-prepare-data debtrans --lang fr --english_file Translation-en --translation_file Translation-fr \
        --output_dir outputs/data/debtrans-enfr
    # wndef from WordNet 3.0 (apt-get install wordnet-base):
    bang-prepare-data wndef --wordnet_dir /usr/share/wordnet --output_dir outputs/data/wndef
    # SQuAD 1.1 question generation (official dev set as test):
    bang-prepare-data squad-qg --train_file train-v1.1.json --test_file dev-v1.1.json --output_dir outputs/data/squad
    # XSum, Hugging Face JSON Lines export or the original release:
    bang-prepare-data xsum --train_file train.jsonl --validation_file validation.jsonl --test_file test.jsonl \
        --output_dir outputs/data/xsum
    bang-prepare-data xsum --summary_dir bbc-summary-data --split_file XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json \
        --output_dir outputs/data/xsum

Each subcommand writes `train.jsonl`, `validation.jsonl` and `test.jsonl` into `--output_dir` (never over existing
files unless `--overwrite`) and prints one JSON line with the counts. `--fetch` runs `apt-get update` into a private
lists folder with the archive this machine's apt is configured for (`bang_spmd.data.ddtp.fetch_translations`); no
host is named here. Splits made here (debsum, debtrans, wndef, squad-qg)
are by group with a SHA-256 hash of the group key and `--seed` (see `bang_spmd.data.splits`); `--validation_fraction`
and `--test_fraction` are fractions of groups. The modules `bang_spmd.data.*` document each set's rules.
"""

import argparse
import json
from pathlib import Path

from bang_spmd.data import write_splits


def _add_common(parser: argparse.ArgumentParser, fractions: bool = True) -> None:
    parser.add_argument("--output_dir", type=Path, required=True, help="folder for train/validation/test.jsonl")
    parser.add_argument("--overwrite", action="store_true", help="replace existing split files")
    parser.add_argument("--no_progress", action="store_true", help="hide the tqdm progress bars")
    if fractions:
        parser.add_argument("--validation_fraction", type=float, default=0.05, help="share of groups (0.05)")
        parser.add_argument("--test_fraction", type=float, default=0.05, help="share of groups (0.05)")
        parser.add_argument("--seed", type=int, default=0, help="mixed into the group hash (0)")


def _add_apt(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", type=Path, default=None, help="private apt folder for --fetch")
    parser.add_argument("--suite", default="bookworm", help="Debian suite of the indexes (bookworm)")
    parser.add_argument("--component", default="main", help="archive component (main)")


def _workdir(args: argparse.Namespace) -> Path:
    if args.workdir is None:
        raise ValueError("--fetch needs --workdir (a private folder for apt's lists).")
    return args.workdir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bang-prepare-data", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    debsum = commands.add_parser("debsum", help="Debian descriptions -> synopses (DDTP Translation-en)")
    source = debsum.add_mutually_exclusive_group(required=True)
    source.add_argument("--translation_file", type=Path, help="an uncompressed Translation-en file")
    source.add_argument("--fetch", action="store_true", help="download it with apt-get into --workdir first")
    _add_apt(debsum)
    debsum.add_argument("--min_words", type=int, default=20, help="shortest document, in words (20)")
    debsum.add_argument("--max_words", type=int, default=400, help="longest document, in words (400)")
    debsum.add_argument("--min_summary_words", type=int, default=2, help="shortest summary, in words (2)")
    debsum.add_argument("--dedup_chars", type=int, default=100, help="documents sharing this prefix are duplicates")
    _add_common(debsum)

    debtrans = commands.add_parser("debtrans", help="English -> other language descriptions (DDTP Translation-*)")
    debtrans.add_argument("--lang", default="fr", help="target language code of the DDTP index (fr)")
    source = debtrans.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--english_file", type=Path, help="an uncompressed Translation-en file (with --translation_file)"
    )
    source.add_argument("--fetch", action="store_true", help="download both indexes with apt-get into --workdir first")
    debtrans.add_argument("--translation_file", type=Path, default=None, help="the uncompressed Translation-LANG file")
    _add_apt(debtrans)
    debtrans.add_argument("--min_words", type=int, default=2, help="shortest English side, in words (2)")
    debtrans.add_argument("--max_words", type=int, default=64, help="longest English side, in words (64)")
    debtrans.add_argument("--min_ratio", type=float, default=0.3, help="lowest target/source word ratio (0.3)")
    debtrans.add_argument("--max_ratio", type=float, default=3.5, help="highest target/source word ratio (3.5)")
    _add_common(debtrans)

    wndef = commands.add_parser("wndef", help="WordNet word + example -> definition")
    wndef.add_argument("--wordnet_dir", type=Path, default=Path("/usr/share/wordnet"), help="WordNet 3.0 dict files")
    _add_common(wndef)

    squad = commands.add_parser("squad-qg", help="SQuAD 1.1 (answer, context) -> question")
    squad.add_argument("--train_file", type=Path, required=True, help="official train-v1.1.json")
    squad.add_argument("--test_file", type=Path, default=None, help="official dev-v1.1.json, used as the test split")
    _add_common(squad)

    xsum = commands.add_parser("xsum", help="XSum document -> summary (JSON Lines or original release)")
    xsum.add_argument("--train_file", type=Path, default=None, help="JSON Lines with id, document, summary")
    xsum.add_argument("--validation_file", type=Path, default=None)
    xsum.add_argument("--test_file", type=Path, default=None)
    xsum.add_argument("--summary_dir", type=Path, default=None, help="folder of <id>.summary files")
    xsum.add_argument("--split_file", type=Path, default=None, help="XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json")
    xsum.add_argument("--skip_missing", action="store_true", help="leave out split ids without a .summary file")
    _add_common(xsum, fractions=False)
    return parser


def _check_outputs(args: argparse.Namespace) -> None:
    existing = [str(args.output_dir / f"{s}.jsonl") for s in ("train", "validation", "test")]
    existing = [p for p in existing if Path(p).exists()]
    if existing and not args.overwrite:
        raise ValueError(f"{', '.join(existing)} already exist(s); pass --overwrite to replace.")


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    _check_outputs(args)  # before any long download or parse
    progress = not args.no_progress
    split_args = {}
    if args.command != "xsum":
        split_args = {"validation_fraction": args.validation_fraction, "test_fraction": args.test_fraction}
        split_args["seed"] = args.seed
    if args.command == "debsum":
        from bang_spmd.data.ddtp import fetch_translations
        from bang_spmd.data.debsum import build_debsum

        translation_file = args.translation_file
        if args.fetch:
            translation_file = fetch_translations(_workdir(args), ("en",), args.suite, args.component)["en"]
        filters = {k: getattr(args, k) for k in ("min_words", "max_words", "min_summary_words", "dedup_chars")}
        splits = build_debsum(translation_file, progress=progress, **split_args, **filters)
    elif args.command == "debtrans":
        from bang_spmd.data.ddtp import fetch_translations
        from bang_spmd.data.debtrans import build_debtrans

        if args.fetch:
            files = fetch_translations(_workdir(args), ("en", args.lang), args.suite, args.component)
            english_file, translation_file = files["en"], files[args.lang]
        elif args.translation_file is None:
            raise ValueError("--english_file needs --translation_file (the Translation-LANG index).")
        else:
            english_file, translation_file = args.english_file, args.translation_file
        filters = {k: getattr(args, k) for k in ("min_words", "max_words", "min_ratio", "max_ratio")}
        splits = build_debtrans(english_file, translation_file, args.lang, progress=progress, **split_args, **filters)
    elif args.command == "wndef":
        from bang_spmd.data.wndef import build_wndef

        splits = build_wndef(args.wordnet_dir, progress=progress, **split_args)
    elif args.command == "squad-qg":
        from bang_spmd.data.squad_qg import build_squad_qg

        splits = build_squad_qg(args.train_file, args.test_file, **split_args)
    else:
        from bang_spmd.data.xsum import build_xsum

        splits = build_xsum(
            args.train_file,
            args.validation_file,
            args.test_file,
            args.summary_dir,
            args.split_file,
            skip_missing=args.skip_missing,
            progress=progress,
        )
    counts = write_splits(splits, args.output_dir, overwrite=args.overwrite)
    result = {"data_set": args.command, "output_dir": str(args.output_dir), **counts}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    from bang_spmd.cli.console import run_program

    run_program(main, "bang-prepare-data")
