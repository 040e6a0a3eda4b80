"""Publishing to the Hugging Face Hub: checking that a saved model folder is a complete package and uploading it.

The model card itself is written by `bang_spmd.model_cards` (the one card writer); `publish` only checks it.
"""

from .publish import UPLOAD_IGNORE_PATTERNS, check_model_folder, files_to_upload, push_model_folder_to_hub


__all__ = ["UPLOAD_IGNORE_PATTERNS", "check_model_folder", "files_to_upload", "push_model_folder_to_hub"]
