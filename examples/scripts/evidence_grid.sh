#!/usr/bin/env bash
# The evidence grid of the README ("SPMD on real data"): one shared teacher and every NAR method with 3 student seeds,
# on wndef and debsum, then the table.
#   SHARED_DATA=../shared/data bash examples/scripts/evidence_grid.sh [OUT_DIR]     (default outputs/evidence)
# The two data sets run side by side, one CPU thread each (this project's machines have 2 cores); every step is
# resumable, so running the script again completes an interrupted grid. Rebuild the data without shared/ with
# `bang-prepare-data wndef|debsum --output_dir DIR` (its splits differ from shared/'s; see the README).
set -euo pipefail
OUT=${1:-outputs/evidence}
DATA=${SHARED_DATA:-../shared/data}
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
COMMON=(--output_dir "$OUT" --seeds 1 2 3 --teacher_steps 1500 --student_steps 150 --distill_samples 3000
        --eval_samples 500 --latency_samples 50 --hidden_size 128 --layers 3 --batch_size 32)
mkdir -p "$OUT"
bang-evidence run --dataset wndef --data_dir "$DATA/wndef" "${COMMON[@]}" > "$OUT/wndef.log" 2>&1 &
bang-evidence run --dataset debsum --data_dir "$DATA/debsum" "${COMMON[@]}" \
    --students nar-gold nar-distilled nar-mixed nar-spmd > "$OUT/debsum.log" 2>&1 &
wait
bang-evidence tabulate --runs_dir "$OUT" --output_dir examples/results/evidence --min_seeds 3
