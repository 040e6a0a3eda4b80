"""Training code for BANG models.

This package is separate from `modeling_bang/`, which travels to the Hub as remote code and must not depend on it.
`trainers.pretraining` holds BANG's n-stream pretraining (span-masking collator and `BangPretrainingTrainer`); the
Self-Paced Mixed Distillation (SPMD) trainer is not written yet (see the README's "Status" section).
"""
