"""A Hugging Face Space (Gradio SDK) for a BANG model: the `bang-demo` page, one input decoded in every mode with
its latency (`bang_spmd.demo`).

The model is the environment variable `BANG_MODEL` (a Space variable: Settings -> Variables), a Hub model id such as
`you/bang-debsum-spmd` or a folder; without it, `DEFAULT_MODEL`. `BANG_MAX_NEW_TOKENS` (default: the model's
generation config's output length, else `DEFAULT_MAX_NEW_TOKENS`), `BANG_DEVICE` (default cpu) and
`BANG_EXAMPLES_FILE` (a JSON Lines file of `text` examples next to this file) are optional. Locally:
`BANG_MODEL=outputs/quickstart/nar-spmd python app.py`.
"""

from bang_spmd.demo import app_from_env
from bang_spmd.demo.app import launch_app


DEFAULT_MODEL = "bang-mini"  # the pretrained BANG shipped with bang-spmd; set BANG_MODEL to your fine-tuned model
DEFAULT_MAX_NEW_TOKENS = 32  # used only when the model's generation config sets no output length (bang-mini)

demo = app_from_env(default_model=DEFAULT_MODEL, default_max_new_tokens=DEFAULT_MAX_NEW_TOKENS)

if __name__ == "__main__":
    launch_app(demo)  # a Space's GRADIO_SERVER_NAME / GRADIO_SERVER_PORT apply
