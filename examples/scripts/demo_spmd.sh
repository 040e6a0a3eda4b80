#!/usr/bin/env bash
# Issue-6 demonstration of the whole SPMD pipeline on wndef: AR teacher -> distilled targets -> NAR students.
#   bash examples/scripts/demo_spmd.sh [OUT_DIR]          (default outputs/demo-spmd)
# Sizes can be changed with environment variables (defaults in brackets): TEACHER_STEPS [1500], STUDENT_STEPS [1000],
# DISTILL_SAMPLES [8000] (training pairs distilled and used by every student), SEED [42], SHARED_DATA
# [../shared/data]. Each step skips itself when its result exists; training steps resume from their last checkpoint.
set -euo pipefail
OUT=${1:-outputs/demo-spmd}
DATA=${SHARED_DATA:-../shared/data}
TEACHER_STEPS=${TEACHER_STEPS:-1500}
STUDENT_STEPS=${STUDENT_STEPS:-1000}
DISTILL_SAMPLES=${DISTILL_SAMPLES:-8000}
SEED=${SEED:-42}
export HF_HUB_OFFLINE=1
mkdir -p "$OUT"
SHAPE=(--config_preset tiny --hidden_size 128 --encoder_layers 3 --decoder_layers 3 --encoder_attention_heads 4
       --decoder_attention_heads 4 --encoder_ffn_dim 512 --decoder_ffn_dim 512 --ngram 1)
COMMON=(--seed "$SEED" --logging_steps 50 --report_to none --save_strategy steps --save_steps 500 --save_total_limit 1
        --dataloader_num_workers 0 --disable_tqdm true --per_device_train_batch_size 64 --learning_rate 1e-3
        --warmup_steps 100 --per_device_eval_batch_size 128)
PAIRS=(--source_columns word,example --target_column definition --max_target_length 48 --truncate_targets)

[ -f "$OUT/wordpiece-8k/tokenizer.json" ] || bang-train-tokenizer --data_dir "$DATA" --vocab_size 8000 --output_dir "$OUT/wordpiece-8k"
head -n "$DISTILL_SAMPLES" "$DATA/wndef/train.jsonl" > "$OUT/train-subset.jsonl"

# 1. AR teacher (BANG's AR flow) on the full wndef training set.
[ -f "$OUT/teacher/eval_results.json" ] || bang-finetune --mode ar "${SHAPE[@]}" "${COMMON[@]}" "${PAIRS[@]}" \
    --tokenizer_name_or_path "$OUT/wordpiece-8k" --train_file "$DATA/wndef/train.jsonl" \
    --validation_file "$DATA/wndef/validation.jsonl" --max_steps "$TEACHER_STEPS" --output_dir "$OUT/teacher" \
    --resume_from_checkpoint auto

# 2. One distilled target per training pair (beam 4), in the student's (= teacher's) vocabulary.
[ -f "$OUT/train-distilled.jsonl" ] || bang-distill --teacher "$OUT/teacher" \
    --data_file "$OUT/train-subset.jsonl" --source_columns word,example --target_column definition \
    --num_distilled 1 --num_beams 4 --max_new_tokens 47 --batch_size 128 --cache_dir "$OUT/distillation_cache" \
    --output_file "$OUT/train-distilled.jsonl"

# 3. NAR students with the same shape, data, budget and seed.
student() {  # name, SPMD options...
    local name=$1; shift
    [ -f "$OUT/$name/eval_results.json" ] || bang-train "${SHAPE[@]}" "${COMMON[@]}" "${PAIRS[@]}" \
        --tokenizer_name_or_path "$OUT/wordpiece-8k" --train_file "$OUT/train-distilled.jsonl" \
        --validation_file "$DATA/wndef/validation.jsonl" --max_steps "$STUDENT_STEPS" --predict_with_generate \
        --output_dir "$OUT/$name" --resume_from_checkpoint auto "$@"
}
student nar-gold --mixing_strategy gold --self_paced_scheme none                    # BANG's NAR baseline
student nar-distilled --mixing_strategy distilled --self_paced_scheme none          # sequence-level KD
student nar-mixed --mixing_strategy random_mix --distilled_ratio 0.5 --self_paced_scheme none
student nar-spmd --mixing_strategy select --self_paced_scheme hard                  # SPMD (this package's default)

echo "teacher: $(cat "$OUT/teacher/eval_results.json" | tr -d '\n')"
for run in nar-gold nar-distilled nar-mixed nar-spmd; do echo "$run: $(tr -d '\n' < "$OUT/$run/eval_results.json")"; done
