#!/usr/bin/env bash
# The evidence of the README ("Evidence: SPMD on real data"): every NAR method against BANG's NAR baseline and the AR
# teacher, each replicate fine-tuned from the shipped pretrained BANG-mini, then the same gold baseline from random
# weights (what pretraining buys), then the table with the gates and the paired bootstrap.
#   SHARED_DATA=../shared/data bash examples/scripts/evidence_grid.sh [OUT_DIR]      (default outputs/evidence)
# TASKS="debtrans debsum wndef" and SEEDS="1 2 3" (the defaults) choose the grid; TEACHER_STEPS, STUDENT_STEPS,
# TRAIN_SAMPLES (rows of the task distilled and trained on), EVAL_SAMPLES (test rows scored) and LATENCY_SAMPLES size
# it. Every step is resumable (a finished step skips itself, training resumes from its last checkpoint), so running
# the script again completes an interrupted grid; the grid of the README was run in several sittings this way.
set -euo pipefail
OUT=${1:-outputs/evidence}
DATA=${SHARED_DATA:-../shared/data}
TASKS=${TASKS:-debtrans debsum wndef}
SEEDS=${SEEDS:-1 2 3}
SCRATCH_SEEDS=${SCRATCH_SEEDS:-1 2}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
BUDGET=(--teacher_steps "${TEACHER_STEPS:-800}" --student_steps "${STUDENT_STEPS:-500}"
        --train_samples "${TRAIN_SAMPLES:-8000}" --eval_samples "${EVAL_SAMPLES:-400}"
        --latency_samples "${LATENCY_SAMPLES:-50}")
mkdir -p "$OUT"
for task in $TASKS; do
  data_set=$task; [ "$task" = debtrans ] && data_set=debtrans-enfr
  # shellcheck disable=SC2086
  bang-evidence run --task "$task" --data_dir "$DATA/$data_set" --output_dir "$OUT" --seeds $SEEDS "${BUDGET[@]}" \
      --students ${STUDENTS:-nar-gold nar-distilled nar-mixed nar-spmd nar-mixed-overlap nar-spmd-agreement}
  # shellcheck disable=SC2086
  [ -z "$SCRATCH_SEEDS" ] || bang-evidence run --task "$task" --data_dir "$DATA/$data_set" --output_dir "$OUT" \
      --from_scratch --seeds $SCRATCH_SEEDS "${BUDGET[@]}" --students nar-gold
done
bang-evidence tabulate --runs_dir "$OUT" --output_dir examples/results/evidence --min_seeds "${MIN_SEEDS:-1}"
