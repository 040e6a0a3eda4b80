"""Objectives of Self-Paced Mixed Distillation (SPMD): pace, self-paced weights, reference mixing, token KL, loss.

SPMD (Qi et al. 2022, arXiv 2205.11162) fine-tunes the NAR side of BANG with (1) "mixed distillation based on the AR
stream knowledge": targets decoded by BANG's AR side are used together with the gold targets, and (2) self-paced
learning, so that the NAR model first fits the samples "with the same modality" (the target mode it can already
fit). The paper's abstract fixes nothing more; every function below states which parts are standard published
building blocks and which are this package's choices. The trainer (`trainers/spmd_trainer.py`) only gathers inputs,
calls these pure functions and logs.

Published building blocks:
- sequence-level knowledge distillation, training the student on the teacher's decoded outputs (Kim & Rush 2016,
  "Sequence-Level Knowledge Distillation");
- self-paced learning with hard weights v_i = 1[loss_i < lambda] and a threshold that grows during training
  (Kumar et al. 2010, "Self-Paced Learning for Latent Variable Models");
- linear, logarithmic and mixture soft weights (Jiang et al. 2014, "Easy Samples First: Self-paced Reranking for
  Zero-Example Multimedia Search");
- choosing, per sample, the reference closest to the model's own output (reference selection for NAR generation,
  e.g. Shao et al. 2022, "One Reference Is Not Enough: Diverse Distillation with Reference Selection for
  Non-Autoregressive Translation").

This package's choices:
- the pace is a fraction of the batch, not an absolute loss threshold: `pace_fraction` grows it from
  `start_fraction` to 1 with a `linear`, `root` or `geometric` shape, and `self_paced_weights` turns it into the
  threshold lambda as that quantile of the current batch's losses, so the weights do not depend on the loss scale,
  need no state, and a resumed run reproduces them;
- soft weights are rescaled so that the lowest-loss sample of the batch always counts fully, and at the end of the
  pace every sample has weight 1;
- mixing strategies over gold and distilled references (`gold`, `distilled`, `random_mix`, `average`, `select`)
  with a constant or linear ratio schedule for `random_mix`;
- an optional token-level AR-stream signal, `token_kl_divergence`, the KL divergence between the AR stream's and
  the NAR stream's token distributions;
- the loss normalisation of `combine_sample_losses`, which keeps gradient accumulation exact;
- two readings of "the samples with the same modality" that use the student's own NAR output rather than its
  loss: `select` by `prediction_overlap` (the reference whose n-grams the student's one-pass prediction already
  shares most, the reference-selection idea of Shao et al. 2022 without their extra decoding pass, since BANG's
  NAR prediction comes with the training forward pass), and self-paced weights from the disagreement
  1 - overlap between the prediction and the chosen reference (`pace_by="agreement"`), so a sample counts early
  when the student already produces its mode. The loss-based rules make the distilled reference win almost always
  (a teacher's output is easier than the gold target for every sample), which reduces mixing to sequence-level KD.
"""

import math
from collections import Counter

import torch
import torch.nn.functional as F


PACE_SHAPES = ("linear", "root", "geometric")
WEIGHTING_SCHEMES = ("none", "hard", "linear", "logarithmic", "mixture")
MIXING_STRATEGIES = ("gold", "distilled", "random_mix", "average", "select")
MIX_SCHEDULES = ("constant", "linear")
SELECTION_RULES = ("loss", "prediction_overlap")
PACE_CRITERIA = ("loss", "agreement")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}, got {value!r}.")


def _check_steps(step: int, max_steps: int) -> None:
    if max_steps < 1:
        raise ValueError(f"`max_steps` must be at least 1, got {max_steps}.")
    if step < 0:
        raise ValueError(f"`step` must be non-negative, got {step}.")


def pace_fraction(step: int, max_steps: int, start_fraction: float, end_point: float, shape: str) -> float:
    """Fraction of each batch that self-paced learning admits at an optimizer step.

    With p = min(step / (end_point * max_steps), 1), the fraction is
      - `linear`: start_fraction + (1 - start_fraction) * p,
      - `root`: start_fraction + (1 - start_fraction) * sqrt(p) (fast growth first),
      - `geometric`: start_fraction * (1 / start_fraction) ** p (slow growth first),
    so it equals `start_fraction` at step 0, is non-decreasing in `step`, and is exactly 1.0 from step
    end_point * max_steps on. Published self-paced learning grows an absolute loss threshold by a constant factor
    per epoch (Kumar et al. 2010); a fraction of the batch and these three shapes are this package's choice (the
    shapes are the usual curriculum-learning pacing functions). The step is the Trainer's `state.global_step`, so a
    resumed run continues the same pace.

    Args:
        step: optimizer step, 0-based.
        max_steps: total number of optimizer steps, at least 1.
        start_fraction: fraction admitted at step 0, in (0, 1] (`geometric` needs it positive, and
            `self_paced_weights` needs a positive fraction).
        end_point: share of training, in (0, 1], after which every sample is admitted.
        shape: one of `PACE_SHAPES`.

    Returns:
        The fraction, in [start_fraction, 1].

    Raises:
        ValueError: naming the argument that is out of range or unknown.
    """
    _check_steps(step, max_steps)
    if not 0.0 < start_fraction <= 1.0:
        raise ValueError(f"`start_fraction` must be in (0, 1], got {start_fraction}.")
    if not 0.0 < end_point <= 1.0:
        raise ValueError(f"`end_point` must be in (0, 1], got {end_point}.")
    _check_choice("shape", shape, PACE_SHAPES)

    progress = step / (end_point * max_steps)
    if progress >= 1.0:
        return 1.0
    if shape == "linear":
        fraction = start_fraction + (1.0 - start_fraction) * progress
    elif shape == "root":
        fraction = start_fraction + (1.0 - start_fraction) * math.sqrt(progress)
    else:
        fraction = start_fraction * (1.0 / start_fraction) ** progress
    return min(max(fraction, start_fraction), 1.0)


def self_paced_weights(
    losses: torch.Tensor,
    fraction: float,
    scheme: str,
    mixture_low: float = 0.5,
    log_zeta: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Self-paced per-sample weights in [0, 1], non-increasing in the loss.

    The threshold lambda is the `fraction` quantile of the given (detached) losses, i.e. of the current batch
    (`torch.quantile`, linear interpolation). With x = loss / lambda, the weighting functions are:
      - `hard` (Kumar et al. 2010): 1 if x <= 1 else 0;
      - `linear` (Jiang et al. 2014): max(0, 1 - x);
      - `logarithmic` (Jiang et al. 2014): log(x * (1 - zeta) + zeta) / log(zeta) for x < 1, else 0, with
        zeta = `log_zeta` (Jiang et al. use log(loss + zeta) / log(zeta) with zeta = 1 - lambda; dividing the loss by
        lambda makes it scale-free);
      - `mixture` (Jiang et al. 2014): 1 if loss <= low, 0 if loss > lambda, zeta * (1 / loss - 1 / lambda) in
        between, with low = `mixture_low` * lambda and zeta = lambda * low / (lambda - low), so it is continuous (1 at
        low, 0 at lambda).
    The soft weights are 0 at the threshold and above, as in the published forms.

    This package's choices:
      - lambda is a quantile of the batch rather than an absolute value grown over training, so the weights do not
        depend on the loss scale, and need no state (a resumed run reproduces them);
      - `linear`, `logarithmic` and `mixture` weights are divided by the weight of the lowest-loss sample, so that
        sample always has weight 1 (for `linear` this gives (lambda - loss) / (lambda - min_loss)); without it every
        sample with a positive loss would count less than 1, and a batch whose lowest loss equals lambda would get
        all-zero weights. The rescaling keeps the weights in [0, 1], non-increasing in the loss and 0 from lambda on;
        it changes nothing for `hard`, nor for `mixture` when the lowest loss is at most low;
      - when the lowest loss equals lambda (e.g. all losses equal, or a single sample), or is so close to it that
        its soft weight rounds to 0, or lambda is 0, the soft formulas give no weight to any sample (or would divide
        by zero), so every sample with loss <= lambda gets weight 1 and the others 0, as with `hard`;
      - at the end of the pace (`fraction` == 1) every sample has weight 1 whatever the scheme (the soft formulas
        would give the highest-loss sample 0), and `none` always gives weight 1.

    Args:
        losses: (batch,) per-sample losses, finite and non-negative; detached here.
        fraction: fraction of the batch admitted, in (0, 1] (see `pace_fraction`).
        scheme: one of `WEIGHTING_SCHEMES`.
        mixture_low: for `mixture`, the share of lambda under which samples get weight 1, in (0, 1).
        log_zeta: for `logarithmic`, zeta in (0, 1); smaller values make the weights fall faster near 0.

    Returns:
        A tuple of the (batch,) weights, with the dtype and device of `losses`, and the threshold lambda, a scalar
        tensor in the dtype of `losses` (None at the end of the pace or with `none`).

    Raises:
        ValueError: naming the argument that is out of range, unknown or of the wrong shape or dtype.
    """
    _check_choice("scheme", scheme, WEIGHTING_SCHEMES)
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"`fraction` must be in (0, 1], got {fraction}.")
    if not 0.0 < mixture_low < 1.0:
        raise ValueError(f"`mixture_low` must be in (0, 1), got {mixture_low}.")
    if not 0.0 < log_zeta < 1.0:
        raise ValueError(f"`log_zeta` must be in (0, 1), got {log_zeta}.")
    if losses.dim() != 1 or losses.numel() == 0:
        raise ValueError(f"`losses` must be a non-empty (batch,) tensor, got shape {tuple(losses.shape)}.")
    if not losses.is_floating_point():
        raise ValueError(f"`losses` must be a floating-point tensor, got {losses.dtype}.")
    losses = losses.detach()
    num_non_finite = int((~torch.isfinite(losses)).sum())
    num_negative = int((losses < 0).sum())
    if num_non_finite or num_negative:
        raise ValueError(
            f"`losses` must be finite and non-negative, got {num_non_finite} non-finite and {num_negative} negative "
            f"values out of {losses.numel()}."
        )

    if scheme == "none" or fraction >= 1.0:
        return torch.ones_like(losses), None

    # torch.quantile does not take half precision.
    values = losses.to(torch.promote_types(losses.dtype, torch.float32))
    threshold = torch.quantile(values, fraction, interpolation="linear")
    admitted = (values <= threshold).to(values.dtype)
    lowest = values.min()
    if scheme == "hard" or threshold <= 0 or lowest >= threshold:
        return admitted.to(losses.dtype), threshold.to(losses.dtype)

    if scheme == "linear":
        weights = _linear_weights(values, threshold)
        lowest_weight = _linear_weights(lowest, threshold)
    elif scheme == "logarithmic":
        weights = _logarithmic_weights(values, threshold, log_zeta)
        lowest_weight = _logarithmic_weights(lowest, threshold, log_zeta)
    else:
        weights = _mixture_weights(values, threshold, mixture_low)
        lowest_weight = _mixture_weights(lowest, threshold, mixture_low)
    if lowest_weight <= 0:
        # The lowest loss is so close to lambda that its soft weight rounds to 0.
        return admitted.to(losses.dtype), threshold.to(losses.dtype)
    weights = (weights / lowest_weight).clamp(0.0, 1.0)
    return weights.to(losses.dtype), threshold.to(losses.dtype)


def _linear_weights(losses: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    return (1.0 - losses / threshold).clamp_min(0.0)


def _logarithmic_weights(losses: torch.Tensor, threshold: torch.Tensor, zeta: float) -> torch.Tensor:
    ratio = (losses / threshold).clamp(max=1.0)
    return (torch.log(ratio * (1.0 - zeta) + zeta) / math.log(zeta)).clamp(0.0, 1.0)


def _mixture_weights(losses: torch.Tensor, threshold: torch.Tensor, low_share: float) -> torch.Tensor:
    # zeta * (1 / loss - 1 / lambda) with low = m * lambda and zeta = lambda * low / (lambda - low) is
    # m / (1 - m) * (lambda / loss - 1): written with the ratio loss / lambda, it neither underflows (low or zeta
    # rounding to 0 for a tiny lambda) nor overflows (1 / loss for a tiny loss), which gave 0 * inf = NaN weights.
    ratio = losses / threshold
    # Ratios under the share take the first branch; clamping keeps 1 / ratio finite for zero losses.
    between = low_share / (1.0 - low_share) * (1.0 / ratio.clamp_min(low_share) - 1.0)
    weights = torch.where(ratio > 1.0, torch.zeros_like(losses), between)
    return torch.where(ratio <= low_share, torch.ones_like(losses), weights).clamp(0.0, 1.0)


def mix_ratio_at(step: int, max_steps: int, start: float, end: float, schedule: str) -> float:
    """Probability that `random_mix` trains a sample on a distilled reference at an optimizer step.

    `constant` returns `start` (and ignores `end`); `linear` goes from `start` at step 0 to `end` at `max_steps`
    and stays there. The schedule is this package's choice; the paper only says distilled and gold targets are
    mixed.

    Args:
        step: optimizer step, 0-based (the Trainer's `state.global_step`).
        max_steps: total number of optimizer steps, at least 1.
        start: ratio at step 0, in [0, 1].
        end: ratio from `max_steps` on, in [0, 1].
        schedule: one of `MIX_SCHEDULES`.

    Returns:
        The ratio, in [0, 1].

    Raises:
        ValueError: naming the argument that is out of range or unknown.
    """
    _check_steps(step, max_steps)
    if not 0.0 <= start <= 1.0:
        raise ValueError(f"`start` must be in [0, 1], got {start}.")
    if not 0.0 <= end <= 1.0:
        raise ValueError(f"`end` must be in [0, 1], got {end}.")
    _check_choice("schedule", schedule, MIX_SCHEDULES)
    if schedule == "constant":
        return float(start)
    progress = min(step / max_steps, 1.0)
    return min(max(start + (end - start) * progress, 0.0), 1.0)


def reference_weights(
    per_reference_losses: torch.Tensor,
    reference_mask: torch.Tensor,
    strategy: str,
    distilled_ratio: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Weights of each sample's references: the gold target and the targets distilled from BANG's AR side.

    Reference 0 is the gold target, references 1 .. R-1 the distilled ones (sequence-level knowledge distillation,
    Kim & Rush 2016). Strategies:
      - `gold`: all weight on the gold target (no distillation);
      - `distilled`: uniform over the available distilled references; a row with none available falls back to
        the gold target (this package's choice, so that every sample trains on something);
      - `random_mix`: per sample, with probability `distilled_ratio` one available distilled reference chosen
        uniformly at random, else the gold target (a row with none available takes the gold target). Two uniform
        numbers per row are drawn on the CPU with `generator` whatever the mask, so a seeded generator gives the
        same choices, and the random stream does not depend on which references are available;
      - `average`: uniform over all available references, gold included;
      - `select`: all weight on the available reference with the lowest loss, ties going to the lowest index
        (reference selection closest to the model's own output, e.g. Shao et al. 2022).
    Mixing gold and distilled targets is what the SPMD paper states; the strategies themselves and their fallbacks
    are this package's choices. `distilled_ratio` is used by `random_mix` only: 0 gives the gold target only, 1 a
    distilled reference wherever one is available.

    Args:
        per_reference_losses: (batch, R) detached per-sample NAR losses of each reference; only read by `select`,
            where the available entries must be finite (masked entries are ignored and may hold anything).
        reference_mask: (batch, R) bool, True where the reference exists; column 0 (gold) must be all True.
        strategy: one of `MIXING_STRATEGIES`.
        distilled_ratio: for `random_mix`, probability of a distilled reference, in [0, 1].
        generator: CPU generator for `random_mix`; None uses torch's global generator.

    Returns:
        (batch, R) weights with the dtype (float32 unless floating point) and device of `per_reference_losses`;
        each row sums to 1 and is 0 where `reference_mask` is False.

    Raises:
        ValueError: naming the argument that is out of range, unknown or of the wrong shape.
    """
    _check_choice("strategy", strategy, MIXING_STRATEGIES)
    if not 0.0 <= distilled_ratio <= 1.0:
        raise ValueError(f"`distilled_ratio` must be in [0, 1], got {distilled_ratio}.")
    if per_reference_losses.dim() != 2 or per_reference_losses.shape[1] < 1:
        raise ValueError(
            f"`per_reference_losses` must be a (batch, R) tensor with R >= 1, got {tuple(per_reference_losses.shape)}."
        )
    if reference_mask.shape != per_reference_losses.shape:
        raise ValueError(
            f"`reference_mask` must have the shape of `per_reference_losses` {tuple(per_reference_losses.shape)}, "
            f"got {tuple(reference_mask.shape)}."
        )
    if generator is not None and generator.device.type != "cpu":
        raise ValueError(f"`generator` must be a CPU generator, got one on {generator.device}.")
    mask = reference_mask.to(device=per_reference_losses.device, dtype=torch.bool)
    if not bool(mask[:, 0].all()):
        raise ValueError("`reference_mask[:, 0]` (the gold target) must be True for every sample.")
    dtype = per_reference_losses.dtype if per_reference_losses.is_floating_point() else torch.float32

    gold = torch.zeros_like(mask)
    gold[:, 0] = True
    distilled_mask = mask.clone()
    distilled_mask[:, 0] = False
    has_distilled = distilled_mask.any(dim=1, keepdim=True)  # (batch, 1)

    if strategy == "gold":
        chosen = gold
    elif strategy == "distilled":
        chosen = torch.where(has_distilled, distilled_mask, gold)
    elif strategy == "average":
        chosen = mask
    elif strategy == "select":
        losses = per_reference_losses.detach()
        if not bool(torch.isfinite(losses[mask]).all()):
            raise ValueError("`per_reference_losses` must be finite where `reference_mask` is True for `select`.")
        best = losses.masked_fill(~mask, math.inf).argmin(dim=1, keepdim=True)  # first minimum on ties
        chosen = torch.zeros_like(mask).scatter_(1, best, True)
    else:
        chosen = _draw_random_mix(distilled_mask, gold, distilled_ratio, generator)

    chosen = chosen.to(dtype)
    return chosen / chosen.sum(dim=1, keepdim=True)


def _draw_random_mix(
    distilled_mask: torch.Tensor, gold: torch.Tensor, ratio: float, generator: torch.Generator | None
) -> torch.Tensor:
    """(batch, R) bool one-hot choice of `random_mix`; see `reference_weights`."""
    draws = torch.rand(distilled_mask.shape[0], 2, generator=generator).to(distilled_mask.device)  # (batch, 2)
    num_available = distilled_mask.sum(dim=1)  # (batch,)
    use_distilled = (draws[:, 0] < ratio) & (num_available > 0)
    # The k-th available distilled reference, k uniform in 0 .. num_available - 1.
    rank = (draws[:, 1] * num_available).floor().long().clamp(max=(num_available - 1).clamp_min(0))
    pick = distilled_mask & (distilled_mask.long().cumsum(dim=1) == (rank + 1).unsqueeze(1))
    return torch.where(use_distilled.unsqueeze(1), pick, gold)


def _ngram_f1(prediction: list[int], reference: list[int], max_order: int) -> float:
    """Mean over n = 1..max_order of the F1 of clipped n-gram matches; 1.0 for two empty sequences."""
    if not prediction and not reference:
        return 1.0
    scores = []
    for n in range(1, max_order + 1):
        predicted = Counter(tuple(prediction[i : i + n]) for i in range(len(prediction) - n + 1))
        wanted = Counter(tuple(reference[i : i + n]) for i in range(len(reference) - n + 1))
        total_p, total_r = sum(predicted.values()), sum(wanted.values())
        if total_p == 0 or total_r == 0:
            scores.append(0.0 if total_p or total_r else 1.0)
            continue
        matches = sum((predicted & wanted).values())
        scores.append(2.0 * matches / (total_p + total_r))
    return sum(scores) / len(scores)


def _until_eos(ids: list[int], eos_token_id: int) -> list[int]:
    return ids[: ids.index(eos_token_id)] if eos_token_id in ids else ids


def prediction_overlap(
    predictions: torch.Tensor,
    references: torch.Tensor,
    reference_mask: torch.Tensor,
    eos_token_id: int,
    max_order: int = 2,
) -> torch.Tensor:
    """How much each reference agrees with the student's own NAR prediction: n-gram F1 in [0, 1].

    For every sample and reference, the mean over n = 1..`max_order` of the F1 of clipped n-gram matches between the
    prediction and the reference, both read up to their first `eos_token_id` (excluded); labels of -100 are padding.
    This package's measure (a smooth, sentence-level stand-in for the BLEU that Shao et al. 2022 select references
    by); unavailable references get 0.

    Args:
        predictions: (batch, T) token ids, e.g. the argmax of the NAR logits of each sample.
        references: (batch, R, T) label ids with -100 padding (reference 0 gold, the others distilled).
        reference_mask: (batch, R) bool, True where the reference exists.
        eos_token_id: the end of sequence (`[SEP]`).
        max_order: highest n-gram order, at least 1.

    Returns:
        (batch, R) float32 overlaps on the device of `references`.
    """
    if max_order < 1:
        raise ValueError(f"`max_order` must be at least 1, got {max_order}.")
    if predictions.dim() != 2 or references.dim() != 3 or references.shape[0] != predictions.shape[0]:
        raise ValueError(
            f"`predictions` must be (batch, T) and `references` (batch, R, T) with the same batch, got "
            f"{tuple(predictions.shape)} and {tuple(references.shape)}."
        )
    if reference_mask.shape != references.shape[:2]:
        raise ValueError(f"`reference_mask` must be {tuple(references.shape[:2])}, got {tuple(reference_mask.shape)}.")
    prediction_lists = predictions.tolist()
    reference_lists = references.tolist()
    available = reference_mask.tolist()
    overlaps = [
        [
            _ngram_f1(
                _until_eos(prediction, eos_token_id),
                _until_eos([t for t in reference if t != -100], eos_token_id),
                max_order,
            )
            if ok
            else 0.0
            for reference, ok in zip(sample_references, sample_available, strict=True)
        ]
        for prediction, sample_references, sample_available in zip(
            prediction_lists, reference_lists, available, strict=True
        )
    ]
    return torch.tensor(overlaps, dtype=torch.float32, device=references.device)


def select_by_overlap(overlaps: torch.Tensor, losses: torch.Tensor, reference_mask: torch.Tensor) -> torch.Tensor:
    """(batch, R) one-hot float weights: per sample the available reference with the highest `overlaps`, ties going
    to the lower loss and then to the lower index (this package's `select` with `selection_rule="prediction_overlap"`).
    """
    if not (overlaps.shape == losses.shape == reference_mask.shape):
        raise ValueError(
            f"`overlaps`, `losses` and `reference_mask` must have one shape, got {tuple(overlaps.shape)}, "
            f"{tuple(losses.shape)} and {tuple(reference_mask.shape)}."
        )
    mask = reference_mask.to(torch.bool)
    if not bool(mask[:, 0].all()):
        raise ValueError("`reference_mask[:, 0]` (the gold target) must be True for every sample.")
    values = overlaps.float().masked_fill(~mask, -math.inf)
    best_overlap = values.max(dim=1, keepdim=True).values
    candidates = mask & (values >= best_overlap - 1e-9)  # the references with the highest overlap
    best = losses.detach().float().masked_fill(~candidates, math.inf).argmin(dim=1, keepdim=True)
    return torch.zeros_like(overlaps, dtype=torch.float32).scatter_(1, best, 1.0)


def token_kl_divergence(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    token_mask: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Per-sample token-level distillation from BANG's AR stream into its NAR stream.

    For each sample, the mean over its masked tokens of T**2 * KL(softmax(teacher / T) || softmax(student / T)),
    the word-level knowledge distillation of Hinton et al. 2015 and Kim & Rush 2016 (their "word-level KD"). Using
    the AR stream's distributions as the teacher of the NAR stream is this package's option: the SPMD paper does not
    say whether its AR-stream knowledge is sequence-level (decoded targets, see `reference_weights`) or token-level.
    The math runs in float32 at least, on the masked tokens only, so padding positions cost nothing and may hold
    any value.

    Args:
        student_logits: (batch, T, V) NAR-stream logits.
        teacher_logits: (batch, T, V) AR-stream logits; detached here.
        token_mask: (batch, T) bool, True for the tokens to distil.
        temperature: softmax temperature T > 0.

    Returns:
        (batch,) KL divergences in float32 (float64 for float64 logits), 0 for a sample without masked tokens.

    Raises:
        ValueError: naming the argument that is out of range or of the wrong shape.
    """
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"`temperature` must be positive and finite, got {temperature}.")
    if student_logits.dim() != 3:
        raise ValueError(f"`student_logits` must be (batch, T, V), got shape {tuple(student_logits.shape)}.")
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(
            f"`teacher_logits` must have the shape of `student_logits` {tuple(student_logits.shape)}, "
            f"got {tuple(teacher_logits.shape)}."
        )
    if token_mask.shape != student_logits.shape[:2]:
        raise ValueError(
            f"`token_mask` must be (batch, T) = {tuple(student_logits.shape[:2])}, got {tuple(token_mask.shape)}."
        )
    dtype = torch.promote_types(student_logits.dtype, torch.float32)
    mask = token_mask.to(device=student_logits.device, dtype=torch.bool)
    student = student_logits[mask].to(dtype) / temperature  # (tokens, V)
    teacher = teacher_logits.detach().to(student_logits.device)[mask].to(dtype) / temperature  # (tokens, V)
    student_log_probs = F.log_softmax(student, dim=-1)
    teacher_log_probs = F.log_softmax(teacher, dim=-1)
    teacher_probs = teacher_log_probs.exp()
    # Vocabulary entries the teacher rules out (probability 0) contribute 0, not 0 * inf.
    pointwise = torch.where(teacher_probs > 0, teacher_probs * (teacher_log_probs - student_log_probs), 0.0)
    per_token = pointwise.sum(dim=-1) * temperature**2  # (tokens,)

    batch_index = mask.nonzero()[:, 0]  # row-major, the order of `[mask]`
    sums = per_token.new_zeros(mask.shape[0]).index_add(0, batch_index, per_token)  # (batch,)
    return sums / mask.sum(dim=1).clamp_min(1).to(dtype)


def combine_sample_losses(
    token_loss_sums: torch.Tensor,
    sample_weights: torch.Tensor,
    num_items_in_batch: int | torch.Tensor | None,
    token_counts: torch.Tensor,
) -> torch.Tensor:
    """Scalar training loss: sum_i w_i * token_loss_sums_i / N.

    N is `num_items_in_batch` when given: the Trainer's count of target tokens over all gradient-accumulation
    micro-batches (and devices with `average_tokens_across_devices`). Then the losses of the micro-batches add up to
    the loss of the whole batch, so gradient accumulation gives the gradient of one large batch; the trainer must
    return this loss unscaled (`loss_is_scaled_for_ga = True`). Without it, N is `token_counts.sum()`, the tokens of
    this micro-batch. N is clamped to at least 1. Normalising by the unweighted token count (rather than by the
    weighted one) is this package's choice: it keeps the accumulation exact without gathering weights across
    micro-batches, at the cost of a smaller loss while few samples are admitted. The weights are detached: the
    self-paced and reference weights select samples, they are not trained.

    Args:
        token_loss_sums: (batch,) per-sample sums of token losses, differentiable.
        sample_weights: (batch,) weights, e.g. from `self_paced_weights`.
        num_items_in_batch: total target tokens of the accumulated batch (int or one-element tensor), or None.
        token_counts: (batch,) number of target tokens per sample, used when `num_items_in_batch` is None.

    Returns:
        The scalar loss, in the dtype and on the device of `token_loss_sums`.

    Raises:
        ValueError: naming the argument of the wrong shape.
    """
    if token_loss_sums.dim() != 1:
        raise ValueError(f"`token_loss_sums` must be (batch,), got shape {tuple(token_loss_sums.shape)}.")
    if sample_weights.shape != token_loss_sums.shape:
        raise ValueError(
            f"`sample_weights` must be (batch,) = {tuple(token_loss_sums.shape)}, got {tuple(sample_weights.shape)}."
        )
    if num_items_in_batch is None:
        if token_counts.shape != token_loss_sums.shape:
            raise ValueError(
                f"`token_counts` must be (batch,) = {tuple(token_loss_sums.shape)}, got {tuple(token_counts.shape)}."
            )
        denominator = token_counts.sum()
    elif torch.is_tensor(num_items_in_batch):
        if num_items_in_batch.numel() != 1:
            raise ValueError(
                "`num_items_in_batch` must be a number or a one-element tensor, "
                f"got shape {tuple(num_items_in_batch.shape)}."
            )
        denominator = num_items_in_batch.reshape(())
    else:
        denominator = torch.tensor(num_items_in_batch)
    denominator = denominator.to(device=token_loss_sums.device, dtype=token_loss_sums.dtype).clamp_min(1)
    weights = sample_weights.detach().to(device=token_loss_sums.device, dtype=token_loss_sums.dtype)
    return (weights * token_loss_sums).sum() / denominator


__all__ = [
    "MIXING_STRATEGIES",
    "MIX_SCHEDULES",
    "PACE_CRITERIA",
    "PACE_SHAPES",
    "SELECTION_RULES",
    "WEIGHTING_SCHEMES",
    "combine_sample_losses",
    "mix_ratio_at",
    "pace_fraction",
    "prediction_overlap",
    "reference_weights",
    "select_by_overlap",
    "self_paced_weights",
    "token_kl_divergence",
]
