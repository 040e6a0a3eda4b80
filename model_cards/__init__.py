"""Hub model cards for BANG models: two Jinja templates and the code that fills them (`render.py`).

    from bang_spmd.model_cards import write_model_card
    write_model_card("outputs/wndef-spmd", model_type="spmd", results=[...], repo_id="user/bang-wndef-spmd",
                     dataset={"id": "user/wndef", "name": "wndef", "split": "validation"}, training={...})

See `model_cards/README.md` and `render_model_card`.
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
]
