"""ROUGE-1/2/L F1, BLEU-4 and METEOR in one local `evaluate` module, computed offline by this package.

Load it by folder path (no Hub access): `evaluate.load("<...>/bang_spmd/evaluation/bang_generation_metrics")`, or
`bang_spmd.evaluation.load_metric()`. `_compute` delegates to `bang_spmd.evaluation.compute_generation_metrics`, whose
docstring gives the exact settings (ROUGE with stemming, sacrebleu 13a BLEU, nltk METEOR with WordNet).
"""

import datasets
import evaluate

from bang_spmd.evaluation.metrics import compute_generation_metrics


_DESCRIPTION = """ROUGE-1, ROUGE-2 and ROUGE-L F1 (rouge-score, Porter stemming, mean over examples), corpus BLEU-4
(sacrebleu, 13a tokenisation) and METEOR (nltk, mean over examples), all x 100, one reference per prediction."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of generated texts.
    references: list of reference texts, one per prediction.
    rouge_stemmer: Porter stemming in ROUGE (default True).
Returns:
    dict with rouge1_f1, rouge2_f1, rougeL_f1, bleu4 and meteor (floats, 0..100).
Examples:
    >>> metric = evaluate.load("bang_spmd/evaluation/bang_generation_metrics")
    >>> metric.compute(predictions=["the cat sat"], references=["the cat sat"])["rouge1_f1"]
    100.0
"""

_CITATION = """Lin (2004) ROUGE; Papineni et al. (2002) BLEU; Post (2018) sacreBLEU; Banerjee and Lavie (2005) METEOR;
Miller (1995) WordNet."""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class BangGenerationMetrics(evaluate.Metric):
    """The `evaluate` face of `bang_spmd.evaluation.compute_generation_metrics`."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            reference_urls=["https://github.com/google-research/google-research/tree/master/rouge"],
        )

    def _compute(self, predictions, references, rouge_stemmer: bool = True) -> dict[str, float]:
        return compute_generation_metrics(list(predictions), list(references), rouge_stemmer=rouge_stemmer)
