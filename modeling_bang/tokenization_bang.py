"""The default BANG tokenizer: bert-base-uncased WordPiece with BANG's sequence format.

The official BANG data (microsoft/BANG README) is WordPiece-tokenised with bert-base-uncased and binarised by fairseq,
which appends `[SEP]` (the end-of-sequence symbol) and adds no `[CLS]`. This tokenizer reproduces that format:
`tokenizer("a text")` gives `a text [SEP]`. It is saved as a plain `tokenizers` backend so that
`AutoTokenizer.from_pretrained(folder)` restores exactly this format offline, without remote code (a saved
`BertTokenizer` would rebuild its `[CLS] ... [SEP]` template on reload).
"""

from pathlib import Path

from tokenizers.processors import TemplateProcessing
from transformers import BertTokenizer, PreTrainedTokenizerFast


DEFAULT_VOCAB_FILE = Path(__file__).with_name("vocab.txt")


def build_default_tokenizer(
    vocab_file: str | Path | None = None, model_max_length: int = 512
) -> PreTrainedTokenizerFast:
    """Builds the BANG tokenizer from a WordPiece `vocab.txt` (default: the bert-base-uncased vocabulary shipped here).

    `BertTokenizer(vocab=path)` is used to build the WordPiece model because, in transformers 5.x,
    `BertTokenizerFast(vocab_file=path)` silently builds a 5-token vocabulary.
    """
    vocab_file = Path(vocab_file) if vocab_file is not None else DEFAULT_VOCAB_FILE
    if not vocab_file.is_file():
        raise ValueError(f"Vocabulary file {vocab_file} does not exist.")
    wordpiece = BertTokenizer(vocab=str(vocab_file))
    backend = wordpiece.backend_tokenizer
    sep_id = backend.token_to_id("[SEP]")
    if sep_id is None or backend.token_to_id("[PAD]") is None:
        raise ValueError(f"Vocabulary file {vocab_file} has no [SEP] or [PAD] token; it is not a BERT vocabulary.")
    backend.post_processor = TemplateProcessing(
        single="$A [SEP]", pair="$A [SEP] $B [SEP]", special_tokens=[("[SEP]", sep_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        sep_token="[SEP]",
        eos_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=model_max_length,
    )


__all__ = ["DEFAULT_VOCAB_FILE", "build_default_tokenizer"]
