"""Training code for BANG models: the Self-Paced Mixed Distillation (SPMD) trainer lives here.

This package is separate from `modeling_bang/`, which travels to the Hub as remote code and must not depend on it.
It holds no trainer yet; see the README's "Status" section.
"""
