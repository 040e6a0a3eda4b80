"""Training code for BANG models.

This package is separate from `modeling_bang/`, which travels to the Hub as remote code and must not depend on it.

* `trainers.model_setup`: model arguments and the model builder shared by the training scripts;
* `trainers.seq2seq_data`: (source, target) data arguments, tokenization and ROUGE-L;
* `trainers.pretraining`: BANG's n-stream pretraining (span-masking collator and `BangPretrainingTrainer`);
* `trainers.distillation`: distilled targets from an AR teacher (`distill_dataset`), cached and resumable;
* `trainers.spmd_objectives`: SPMD's pure functions (pace, self-paced weights, reference mixing, token KL, loss);
* `trainers.spmd_trainer`: `SPMDTrainingArguments`, `SPMDDataCollator` and `SPMDTrainer`.
"""
