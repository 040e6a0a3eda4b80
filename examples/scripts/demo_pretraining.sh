#!/usr/bin/env bash
# Issue-5 demonstration: a tiny BANG pretrained for a short CPU budget on the shared raw text (train splits of
# debsum and wndef), then fine-tuned NAR on wndef, compared with the same fine-tuning from random initialisation.
#   bash examples/scripts/demo_pretraining.sh [OUT_DIR]     (default outputs/demo-pretraining)
# SHARED_DATA=folder overrides the data folder (default ../shared/data). The Trainer uses a GPU when there is one.
# Each step skips itself when its result exists, so an interrupted run can be restarted with the same command.
set -euo pipefail
OUT=${1:-outputs/demo-pretraining}
DATA=${SHARED_DATA:-../shared/data}
export HF_HUB_OFFLINE=1
mkdir -p "$OUT"
SHAPE=(--config_preset tiny --hidden_size 128 --encoder_layers 3 --decoder_layers 3 --encoder_attention_heads 4
       --decoder_attention_heads 4 --encoder_ffn_dim 512 --decoder_ffn_dim 512 --ngram 2)
COMMON=(--seed 42 --logging_steps 50 --report_to none --save_strategy steps --save_steps 500 --save_total_limit 1
        --dataloader_num_workers 0 --disable_tqdm true)

[ -f "$OUT/wordpiece-8k/tokenizer.json" ] || bang-train-tokenizer --data_dir "$DATA" --vocab_size 8000 --output_dir "$OUT/wordpiece-8k"
[ -f "$OUT/text-train.txt" ] || bang-prepare-pretraining-text --data_dir "$DATA" --split train --output_file "$OUT/text-train.txt"
[ -f "$OUT/text-validation.txt" ] || bang-prepare-pretraining-text --data_dir "$DATA" --split validation --output_file "$OUT/text-validation.txt"

[ -f "$OUT/pretrained/eval_results.json" ] || bang-pretrain "${SHAPE[@]}" "${COMMON[@]}" \
    --tokenizer_name_or_path "$OUT/wordpiece-8k" --train_files "$OUT/text-train.txt" \
    --validation_files "$OUT/text-validation.txt" --max_eval_samples 1000 \
    --max_steps 1400 --per_device_train_batch_size 32 --learning_rate 1e-3 --warmup_steps 100 \
    --output_dir "$OUT/pretrained" --resume_from_checkpoint auto

FINETUNE=(--mode nar --train_file "$DATA/wndef/train.jsonl" --validation_file "$DATA/wndef/validation.jsonl"
          --source_columns word,example --target_column definition --max_target_length 48 --truncate_targets
          --max_steps 1000 --per_device_train_batch_size 64 --learning_rate 1e-3 --warmup_steps 100)
[ -f "$OUT/nar-from-pretrained/eval_results.json" ] || bang-finetune "${FINETUNE[@]}" "${COMMON[@]}" \
    --model_name_or_path "$OUT/pretrained" --output_dir "$OUT/nar-from-pretrained" --resume_from_checkpoint auto
[ -f "$OUT/nar-from-scratch/eval_results.json" ] || bang-finetune "${FINETUNE[@]}" "${COMMON[@]}" \
    "${SHAPE[@]}" --tokenizer_name_or_path "$OUT/wordpiece-8k" --output_dir "$OUT/nar-from-scratch" \
    --resume_from_checkpoint auto

for run in pretrained nar-from-pretrained nar-from-scratch; do echo "$run: $(cat "$OUT/$run/eval_results.json")"; done
