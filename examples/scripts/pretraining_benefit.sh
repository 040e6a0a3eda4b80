#!/usr/bin/env bash
# What the shipped pretrained BANG-mini buys (examples/results/pretraining_benefit/): the same fine-tuning budget on
# debtrans English->French synopses from BANG-mini and from random weights of its shape and tokenizer, for each seed:
#   1. an AR teacher: bang-finetune --mode ar, TEACHER_STEPS steps (default 800);
#   2. a NAR model on the gold targets, started from that teacher (the quickstart's student start): bang-train
#      --mixing_strategy gold, STUDENT_STEPS steps (default 400);
#   3. both scored on the first EVAL_SAMPLES (default 400) test synopses: AR greedy and NAR, BLEU, chrF, distinct outputs.
#   SHARED_DATA=../shared/data bash examples/scripts/pretraining_benefit.sh [OUT_DIR]   (default outputs/pretraining)
# SEEDS (default "1 2") and STARTS (default "bang-mini scratch") choose the grid. A finished step skips itself (its
# metrics or eval_results.json exist), so running the script again completes an interrupted grid; then
# `python examples/scripts/tabulate_pretraining_benefit.py OUT_DIR RESULTS_DIR TEST_FILE` writes the table.
set -euo pipefail
OUT=${1:-outputs/pretraining}
DATA=${SHARED_DATA:-../shared/data}/debtrans-enfr
SEEDS=${SEEDS:-1 2}
STARTS=${STARTS:-bang-mini scratch}
TEACHER_STEPS=${TEACHER_STEPS:-800}
STUDENT_STEPS=${STUDENT_STEPS:-400}
EVAL_SAMPLES=${EVAL_SAMPLES:-400}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# BANG-mini's shape (bang_spmd/pretrained/bang-mini/config.json) for the random-init start, with its tokenizer
SCRATCH=(--config_preset tiny --hidden_size 128 --encoder_layers 3 --decoder_layers 3 --encoder_attention_heads 4
         --decoder_attention_heads 4 --encoder_ffn_dim 512 --decoder_ffn_dim 512 --ngram 2
         --max_position_embeddings 128 --tokenizer_name_or_path bang-mini)
PAIRS=(--source_columns en --target_column fr --max_source_length 48 --max_target_length 48 --truncate_targets
       --train_file "$DATA/train.jsonl" --validation_file "$DATA/validation.jsonl" --where kind=synopsis
       --validation_metric bleu4 --max_eval_samples 200)
TRAINER=(--per_device_train_batch_size 64 --per_device_eval_batch_size 64 --learning_rate 2e-3
         --train_sampling_strategy group_by_length --report_to none --logging_steps 100 --save_strategy steps
         --save_total_limit 1 --dataloader_num_workers 0 --dataloader_pin_memory false --resume_from_checkpoint auto)
score() {  # score MODEL NAME DECODING_FLAGS...
  local model=$1 name=$2; shift 2
  [ -f "$model/$name.metrics.json" ] && return
  bang-evaluate --model "$model" --data_file "$DATA/test.jsonl" --task debtrans --max_samples "$EVAL_SAMPLES" \
      --batch_size 64 --output_file "$model/$name.jsonl" "$@" > "$model/$name.metrics.tmp"
  tail -n 1 "$model/$name.metrics.tmp" > "$model/$name.metrics.json" && rm "$model/$name.metrics.tmp"
}
for start in $STARTS; do
  if [ "$start" = scratch ]; then init=("${SCRATCH[@]}"); else init=(--model_name_or_path "$start"); fi
  for seed in $SEEDS; do
    run=$OUT/$start/seed-$seed
    [ -f "$run/teacher/eval_results.json" ] || bang-finetune "${init[@]}" --mode ar "${PAIRS[@]}" "${TRAINER[@]}" \
        --output_dir "$run/teacher" --max_steps "$TEACHER_STEPS" --warmup_steps $((TEACHER_STEPS / 10)) \
        --save_steps $((TEACHER_STEPS / 4)) --seed "$seed"
    rm -rf "$run"/teacher/checkpoint-*
    score "$run/teacher" test-ar-greedy --decoding_mode ar --num_beams 1
    [ -f "$run/nar-gold/eval_results.json" ] || bang-train --model_name_or_path "$run/teacher" "${PAIRS[@]}" \
        "${TRAINER[@]}" --mixing_strategy gold --self_paced_scheme none --predict_with_generate \
        --output_dir "$run/nar-gold" --max_steps "$STUDENT_STEPS" --warmup_steps $((STUDENT_STEPS / 10)) \
        --save_steps $((STUDENT_STEPS / 4)) --seed "$seed"
    rm -rf "$run"/nar-gold/checkpoint-*
    score "$run/nar-gold" test-nar --decoding_mode nar
  done
done
