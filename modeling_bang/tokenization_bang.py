"""BANG tokenizers: bert-base-uncased WordPiece (the default) or a WordPiece vocabulary trained on your corpus.

The official BANG data (microsoft/BANG README) is WordPiece-tokenised with bert-base-uncased and binarised by fairseq,
which appends `[SEP]` (the end-of-sequence symbol) and adds no `[CLS]`. These tokenizers reproduce that format:
`tokenizer("a text")` gives `a text [SEP]`. They are saved as a plain `tokenizers` backend so that
`AutoTokenizer.from_pretrained(folder)` restores exactly this format offline, without remote code (a saved
`BertTokenizer` would rebuild its `[CLS] ... [SEP]` template on reload).
"""

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from tokenizers.processors import TemplateProcessing
from transformers import BertTokenizer, PreTrainedTokenizerFast


DEFAULT_VOCAB_FILE = Path(__file__).with_name("vocab.txt")
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _wrap(backend: Tokenizer, model_max_length: int) -> PreTrainedTokenizerFast:
    """Adds BANG's `text [SEP]` template to a WordPiece backend and wraps it for transformers."""
    ids = {token: backend.token_to_id(token) for token in SPECIAL_TOKENS}
    missing = [token for token, token_id in ids.items() if token_id is None]
    if missing:
        raise ValueError(f"The vocabulary has no {missing} token(s); BANG needs {list(SPECIAL_TOKENS)}.")
    backend.post_processor = TemplateProcessing(
        single="$A [SEP]", pair="$A [SEP] $B [SEP]", special_tokens=[("[SEP]", ids["[SEP]"])]
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
    # BertTokenizer would silently append missing special tokens after the vocabulary; refuse such a file instead.
    vocabulary = set(vocab_file.read_text(encoding="utf-8").splitlines())
    missing = [token for token in SPECIAL_TOKENS if token not in vocabulary]
    if missing:
        raise ValueError(f"Vocabulary file {vocab_file} has no {missing} token(s); BANG needs {list(SPECIAL_TOKENS)}.")
    return _wrap(BertTokenizer(vocab=str(vocab_file)).backend_tokenizer, model_max_length)


WORD_START = "\u2581"  # "▁", the mark of a word that follows a space (SentencePiece's convention)


def train_wordpiece_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    min_frequency: int = 2,
    model_max_length: int = 512,
    lowercase: bool = True,
    keep_spacing: bool = False,
) -> PreTrainedTokenizerFast:
    """Trains a WordPiece vocabulary on `texts`.

    A vocabulary fitted to a small corpus shrinks the embedding and the output projection, which dominate the cost
    of small models. The special tokens get ids 0..4 in the order `[PAD] [UNK] [CLS] [SEP] [MASK]`, so a model
    trained with it needs `pad_token_id=0, eos_token_id=decoder_start_token_id=3` (take them from the tokenizer).
    This is a convenience of this package, not part of BANG, whose released checkpoint uses bert-base-uncased.
    The `tokenizers` trainer breaks ties between equally frequent merges in hash-map order, which changes from run to
    run: training twice on the same texts can give a few different pieces and other ids. A model's tokenizer is
    therefore saved with it and never refitted (the shipped BANG-mini carries its own).

    Args:
        lowercase: BERT's uncased normalisation (lower case, accents stripped). False keeps case and accents, which
            French needs.
        keep_spacing: False splits words and punctuation as BERT does, so `decode` cannot tell `d’analyse` from
            `d ’ analyse`. True marks every word that follows a space with `▁` before splitting off punctuation and
            decodes by concatenation, so `decode(encode(text))` gives the text back with its spacing (runs of
            whitespace, non-breaking spaces included, become one space); this package's choice for generation
            tasks scored on detokenised text (BLEU, chrF).
    """
    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"`vocab_size` must exceed the {len(SPECIAL_TOKENS)} special tokens, got {vocab_size}.")
    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    bert_normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=None if lowercase else False)
    if keep_spacing:
        backend.normalizer = normalizers.Sequence([normalizers.NFC(), bert_normalizer])
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Metaspace(replacement=WORD_START, prepend_scheme="always"), pre_tokenizers.Punctuation()]
        )
        backend.decoder = decoders.Sequence(
            [decoders.Replace("##", ""), decoders.Metaspace(replacement=WORD_START, prepend_scheme="always")]
        )
    else:
        backend.normalizer = bert_normalizer
        backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        backend.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS)
    )
    backend.train_from_iterator(texts, trainer=trainer)
    return _wrap(backend, model_max_length)


__all__ = [
    "DEFAULT_VOCAB_FILE",
    "SPECIAL_TOKENS",
    "WORD_START",
    "build_default_tokenizer",
    "train_wordpiece_tokenizer",
]
