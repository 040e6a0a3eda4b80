r"""`bang-train-tokenizer`: train a WordPiece vocabulary with BANG's `text [SEP]` format on the training split of the
shared data sets.

    HF_HUB_OFFLINE=1 bang-train-tokenizer --vocab_size 8000 --output_dir outputs/wordpiece-8k
    # the shipped BANG-mini's: cased, accents kept, decoding restores the spacing (French needs both)
    HF_HUB_OFFLINE=1 bang-train-tokenizer --vocab_size 8000 --cased --keep_spacing --model_max_length 128 \
        --output_dir outputs/wordpiece-8k-cased

Only TRAIN splits are read (both sides of every pair: `bang_spmd.data.text_corpus.TEXT_FIELDS`), so validation and
test text never shapes the vocabulary. Small
models spend most of their time in the embedding and the output projection; a vocabulary fitted to the corpus (a few
thousand pieces instead of 30,522) makes CPU experiments several times faster. The saved folder loads with
`AutoTokenizer.from_pretrained(output_dir)`; it is written into a staging folder next to it and moved into place
once complete, so a full disk is one error naming it and leaves no partial folder.
"""

import argparse
from pathlib import Path

from bang_spmd.data.text_corpus import DEFAULT_DATA_DIR, TEXT_FIELDS, tokenizer_training_texts
from bang_spmd.trainers.run_files import staged_folder
from modeling_bang import train_wordpiece_tokenizer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bang-train-tokenizer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data_dir", type=Path, default=DEFAULT_DATA_DIR, help="folder of the data sets")
    parser.add_argument(
        "--datasets", nargs="+", default=list(TEXT_FIELDS), choices=list(TEXT_FIELDS), help="in this order"
    )
    parser.add_argument("--vocab_size", type=int, default=8000, help="size of the vocabulary, special tokens included")
    parser.add_argument("--min_frequency", type=int, default=2, help="minimum count of a merged piece")
    parser.add_argument("--cased", action="store_true", help="keep case and accents (default: BERT's uncased)")
    parser.add_argument(
        "--keep_spacing", action="store_true", help="mark word starts so that decoding restores the text's spacing"
    )
    parser.add_argument(
        "--model_max_length", type=int, default=512, help="longest input the tokenizer allows (the model's positions)"
    )
    parser.add_argument("--output_dir", type=Path, required=True, help="where to save the tokenizer")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing non-empty output folder")
    args = parser.parse_args(argv)
    for name, least in (("vocab_size", 6), ("min_frequency", 1), ("model_max_length", 2)):
        if getattr(args, name) < least:
            raise ValueError(f"--{name} must be at least {least}, got {getattr(args, name)}.")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.output_dir.exists() and any(args.output_dir.iterdir()) and not args.overwrite:
        raise SystemExit(f"{args.output_dir} is not empty; pass --overwrite to replace it.")
    try:
        tokenizer = train_wordpiece_tokenizer(
            tokenizer_training_texts(args.data_dir, args.datasets),
            args.vocab_size,
            min_frequency=args.min_frequency,
            model_max_length=args.model_max_length,
            lowercase=not args.cased,
            keep_spacing=args.keep_spacing,
        )
    except ValueError as error:  # a missing data set or field
        raise SystemExit(str(error)) from error
    with staged_folder(args.output_dir, f"the tokenizer into {args.output_dir}") as staging:
        tokenizer.save_pretrained(staging)  # moved into place whole: a full disk leaves no partial folder
    print(f"WordPiece vocabulary of {len(tokenizer)} pieces trained on {args.datasets}, saved to {args.output_dir}")
    print(f"special ids: pad {tokenizer.pad_token_id}, eos/decoder start {tokenizer.eos_token_id}")


if __name__ == "__main__":
    from bang_spmd.cli.console import run_program

    run_program(main, "bang-train-tokenizer")
