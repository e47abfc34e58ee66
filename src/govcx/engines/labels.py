"""Labels shared by the intent classifiers (:mod:`~govcx.engines.classifier` and the
fine-tuned model it may load, :mod:`~govcx.engines.finetuned`)."""

OUT_OF_SCOPE = "__out_of_scope__"
"""The class of messages no workflow of the pack handles."""
