"""Hub model cards for BANG models (installed as `bang_spmd.model_cards`): two Jinja templates and the one writer.

    from bang_spmd.model_cards import write_model_card
    write_model_card("outputs/wndef-spmd", model_type="spmd", results=[...], repo_id="user/bang-wndef-spmd",
                     dataset={"id": "user/wndef", "name": "wndef", "split": "validation"}, training={...})

`render.py` fills the templates (`render_model_card`, `write_model_card`); `trainer_card.py` writes the card of a
model a `Trainer` has just trained from the trainer's state (`write_trainer_model_card`, used by
`SPMDTrainer.create_model_card`). See `model_cards/README.md`.
"""

from .render import (
    BASE_TEMPLATE,
    FINETUNED_TEMPLATE,
    KNOWN_METRICS,
    MODEL_TYPES,
    RESULT_COLUMNS,
    check_result,
    count_parameters,
    decoding_label,
    render_model_card,
    results_from_log_history,
    write_model_card,
)
from .trainer_card import write_trainer_model_card


__all__ = [
    "BASE_TEMPLATE",
    "FINETUNED_TEMPLATE",
    "KNOWN_METRICS",
    "MODEL_TYPES",
    "RESULT_COLUMNS",
    "check_result",
    "count_parameters",
    "decoding_label",
    "render_model_card",
    "results_from_log_history",
    "write_model_card",
    "write_trainer_model_card",
]
