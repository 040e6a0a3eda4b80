"""The one implementation of this package's generation metrics: ROUGE-1/2/L, BLEU-4, chrF and METEOR, offline.

`compute_generation_metrics(predictions, references)` returns, all on a 0..100 scale:

- `rouge1_f1`, `rouge2_f1`, `rougeL_f1`: the mean over examples of rouge-score's F1, with its default tokenizer
  (lower-case, non-alphanumerics to spaces) and WITH Porter stemming (`use_stemmer=True`). This package chose
  stemming because summarisation results are usually reported with ROUGE-1.5.5's `-m` (stemming) option and
  `evaluate`'s `rouge` metric stems by default. `rouge_l` (model selection during training, the training
  programs' `eval_rougeL_f1`) does NOT stem, so its value is never above, and usually slightly below, `rougeL_f1` here;
  `rouge_stemmer=False` gives exactly its value.
- `bleu4`: sacrebleu's corpus BLEU (up to 4-grams, default `13a` tokenisation, exponential smoothing, one
  reference per prediction).
- `chrf`: sacrebleu's corpus chrF (character 6-grams, no word n-grams, beta 2), the usual second metric of machine
  translation; like BLEU it reads the detokenised text (the tokenizers of this package's translation models decode
  with their original spacing, `train_wordpiece_tokenizer(keep_spacing=True)`).
- `meteor`: the mean over examples of nltk's `meteor_score` (alpha 0.9, beta 3, gamma 0.5; exact, Porter-stem and
  WordNet-synonym matches; lower-cased). Texts are tokenised with nltk's `NLTKWordTokenizer`, the word tokenizer
  that `nltk.word_tokenize` applies after sentence splitting (which needs the `punkt_tab` download; outputs here
  are mostly one sentence). METEOR needs WordNet 3.0 in an NLTK data folder: see `bang_spmd.evaluation.wordnet`.

These are comparisons inside this project: published SQuAD question-generation tables (BLEU-4, METEOR, ROUGE-L from
the Du et al. 2017 / pycocoevalcap scripts, METEOR 1.5's Java scorer) are computed differently and are not directly
comparable.

The parts are also public: `rouge_f1`, `rouge_l`, `bleu4` and `meteor` (only `meteor` needs WordNet; the full call
checks for it before scoring anything). A new metric is one more such function here, and a key in
`compute_generation_metrics` and `METRIC_NAMES`. `load_metric()` returns the same computation as an
`evaluate.EvaluationModule` loaded from the folder `bang_generation_metrics/` next to this file (no Hub access; works
with `HF_HUB_OFFLINE=1`).
"""

from pathlib import Path


METRIC_DIR = Path(__file__).resolve().parent / "bang_generation_metrics"
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
METRIC_NAMES = ("rouge1_f1", "rouge2_f1", "rougeL_f1", "bleu4", "chrf", "meteor")


def _check_inputs(predictions, references) -> None:
    for name, texts in (("predictions", predictions), ("references", references)):
        if isinstance(texts, str) or not isinstance(texts, list | tuple):
            raise ValueError(f"{name} must be a list of strings, got {type(texts).__name__}.")
        bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is not None:
            raise ValueError(f"{name}[{bad}] is a {type(texts[bad]).__name__}, not a string.")
    if len(predictions) != len(references):
        raise ValueError(f"Got {len(predictions)} predictions but {len(references)} references; they must pair up.")
    if not predictions:
        raise ValueError("No predictions to score (both lists are empty).")


def _wordnet_reader():
    """nltk's WordNet reader, loaded; a ValueError saying how to install it when nltk cannot find it."""
    from nltk.corpus import wordnet

    from .wordnet import APT_INSTALL, find_nltk_wordnet

    if find_nltk_wordnet() is None:
        raise ValueError(
            "METEOR needs WordNet 3.0 in an NLTK data folder and nltk finds none. Install it offline with "
            f"`{APT_INSTALL}` and then `bang-prepare-wordnet` (writes $NLTK_DATA or ~/nltk_data)."
        )
    wordnet.ensure_loaded()
    return wordnet


def rouge_f1(
    predictions: list[str], references: list[str], stemmer: bool = True, types: tuple[str, ...] = ROUGE_TYPES
) -> dict[str, float]:
    """`rouge1_f1`, `rouge2_f1`, `rougeL_f1` (those of `types`): mean rouge-score F1 x 100 (module docstring)."""
    from rouge_score import rouge_scorer

    _check_inputs(predictions, references)
    scorer = rouge_scorer.RougeScorer(list(types), use_stemmer=stemmer)
    sums = dict.fromkeys(types, 0.0)
    for prediction, reference in zip(predictions, references, strict=True):
        scores = scorer.score(reference, prediction)
        for key in sums:
            sums[key] += scores[key].fmeasure
    return {f"{key}_f1": 100.0 * value / len(predictions) for key, value in sums.items()}


def rouge_l(predictions: list[str], references: list[str]) -> float:
    """Mean ROUGE-L F1 x 100 without stemming: the training programs' model-selection score (`eval_rougeL_f1`);
    0.0 for empty lists."""
    if not predictions and not references:
        return 0.0
    return rouge_f1(predictions, references, stemmer=False, types=("rougeL",))["rougeL_f1"]


def bleu4(predictions: list[str], references: list[str]) -> float:
    """sacrebleu corpus BLEU (13a tokenisation, one reference per prediction), 0..100."""
    import sacrebleu

    _check_inputs(predictions, references)
    return float(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score)


def chrf(predictions: list[str], references: list[str]) -> float:
    """sacrebleu corpus chrF (character 6-grams, beta 2, one reference per prediction), 0..100."""
    import sacrebleu

    _check_inputs(predictions, references)
    return float(sacrebleu.corpus_chrf(list(predictions), [list(references)]).score)


VALIDATION_METRICS = {"rougeL_f1": rouge_l, "bleu4": bleu4, "chrf": chrf}


def validation_metric(name: str):
    """The metric function a training recipe hands to the trainers under the name `name`
    (`{name: value}` for a list of predictions and references): `rougeL_f1` (`rouge_l`, no stemming), `bleu4` or
    `chrf`. A ValueError names the choices for any other name."""
    if name not in VALIDATION_METRICS:
        raise ValueError(f"Unknown validation metric {name!r}; choose one of {sorted(VALIDATION_METRICS)}.")
    function = VALIDATION_METRICS[name]

    def compute(predictions, references) -> dict[str, float]:
        return {name: function(list(predictions), list(references))}

    compute.__name__ = f"{name}_metric"
    return compute


def meteor(predictions: list[str], references: list[str]) -> float:
    """Mean nltk METEOR x 100 (see the module docstring); a ValueError when WordNet is missing."""
    from nltk.tokenize import NLTKWordTokenizer
    from nltk.translate.meteor_score import meteor_score

    _check_inputs(predictions, references)
    wordnet = _wordnet_reader()
    tokenize = NLTKWordTokenizer().tokenize
    total = 0.0
    for prediction, reference in zip(predictions, references, strict=True):
        total += meteor_score([tokenize(reference)], tokenize(prediction), wordnet=wordnet)  # empty text: 0
    return 100.0 * total / len(predictions)


def compute_generation_metrics(
    predictions: list[str], references: list[str], rouge_stemmer: bool = True, with_meteor: bool = True
) -> dict[str, float]:
    """ROUGE-1/2/L F1, BLEU-4, chrF and METEOR (x 100) of `predictions` against one reference each.

    Raises a ValueError for lists of different lengths, empty lists, non-string items, or a missing WordNet (checked
    first, before any scoring). `rouge_stemmer=False` turns off ROUGE's stemming (then `rougeL_f1` equals
    `rouge_l`); `with_meteor=False` leaves METEOR, and so WordNet, out.
    """
    _check_inputs(predictions, references)
    if with_meteor:
        _wordnet_reader()
    result = rouge_f1(predictions, references, stemmer=rouge_stemmer)
    result["bleu4"] = bleu4(predictions, references)
    result["chrf"] = chrf(predictions, references)
    if with_meteor:
        result["meteor"] = meteor(predictions, references)
    return result


def load_metric(**kwargs):
    """`evaluate.load` of the local module folder `METRIC_DIR` (no Hub access needed); kwargs go to `evaluate.load`."""
    import evaluate

    return evaluate.load(str(METRIC_DIR), **kwargs)


__all__ = [
    "METRIC_DIR",
    "METRIC_NAMES",
    "VALIDATION_METRICS",
    "bleu4",
    "chrf",
    "compute_generation_metrics",
    "load_metric",
    "meteor",
    "rouge_f1",
    "rouge_l",
    "validation_metric",
]
