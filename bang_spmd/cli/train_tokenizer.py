"""`bang-train-tokenizer`: train a WordPiece vocabulary with BANG's `text [SEP]` format on the training split of the
shared data sets.

    HF_HUB_OFFLINE=1 bang-train-tokenizer --vocab_size 8000 --output_dir outputs/wordpiece-8k

Only TRAIN splits are read (debsum documents and summaries, wndef words, examples and definitions:
`bang_spmd.data.text_corpus.TOKENIZER_FIELDS`), so validation and test text never shapes the vocabulary. Small
models spend most of their time in the embedding and the output projection; a vocabulary fitted to the corpus (a few
thousand pieces instead of 30,522) makes CPU experiments several times faster. The saved folder loads with
`AutoTokenizer.from_pretrained(output_dir)`.
"""

import argparse
from pathlib import Path

from bang_spmd.data.text_corpus import DEFAULT_DATA_DIR, TOKENIZER_FIELDS, tokenizer_training_texts
from modeling_bang import train_wordpiece_tokenizer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bang-train-tokenizer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data_dir", type=Path, default=DEFAULT_DATA_DIR, help="folder of the data sets")
    parser.add_argument("--datasets", nargs="+", default=sorted(TOKENIZER_FIELDS), choices=sorted(TOKENIZER_FIELDS))
    parser.add_argument("--vocab_size", type=int, default=8000, help="size of the vocabulary, special tokens included")
    parser.add_argument("--min_frequency", type=int, default=2, help="minimum count of a merged piece")
    parser.add_argument("--output_dir", type=Path, required=True, help="where to save the tokenizer")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing non-empty output folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.output_dir.exists() and any(args.output_dir.iterdir()) and not args.overwrite:
        raise SystemExit(f"{args.output_dir} is not empty; pass --overwrite to replace it.")
    try:
        tokenizer = train_wordpiece_tokenizer(
            tokenizer_training_texts(args.data_dir, args.datasets), args.vocab_size, min_frequency=args.min_frequency
        )
    except ValueError as error:  # a missing data set or field
        raise SystemExit(str(error)) from error
    tokenizer.save_pretrained(args.output_dir)
    print(f"WordPiece vocabulary of {len(tokenizer)} pieces trained on {args.datasets}, saved to {args.output_dir}")
    print(f"special ids: pad {tokenizer.pad_token_id}, eos/decoder start {tokenizer.eos_token_id}")


if __name__ == "__main__":
    main()
