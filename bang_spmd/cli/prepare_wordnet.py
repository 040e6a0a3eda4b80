"""`bang-prepare-wordnet`: prepare an NLTK data folder with WordNet 3.0 from Debian's packages, offline (nltk's
METEOR needs it).

    apt-get install -y --no-install-recommends wordnet-base wordnet-sense-index
    bang-prepare-wordnet                    # into $NLTK_DATA (first entry) or ~/nltk_data
    bang-prepare-wordnet --target /opt/nltk_data --overwrite

What is copied and checked is described in `bang_spmd.evaluation.wordnet`.
"""

import argparse
from pathlib import Path

from bang_spmd.evaluation.wordnet import DEBIAN_WORDNET_DIR, check_with_nltk, default_target, prepare_nltk_wordnet


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(
        prog="bang-prepare-wordnet", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--target", type=Path, default=None, help="NLTK data folder (default: $NLTK_DATA or ~/nltk_data)"
    )
    parser.add_argument("--source", type=Path, default=DEBIAN_WORDNET_DIR, help="WordNet dict files (Debian's)")
    parser.add_argument("--overwrite", action="store_true", help="replace the files of an existing corpora/wordnet")
    args = parser.parse_args(argv)
    target = args.target if args.target is not None else default_target()
    folder = prepare_nltk_wordnet(target, args.source, overwrite=args.overwrite)
    print(f"Prepared {folder}; {check_with_nltk(target)}")
    import nltk

    if str(target.resolve()) not in {str(Path(p).expanduser().resolve()) for p in nltk.data.path}:
        print(f"{target} is not on nltk's search path: export NLTK_DATA={target}")
    return folder


if __name__ == "__main__":
    from bang_spmd.cli.console import run_program

    run_program(main, "bang-prepare-wordnet")
