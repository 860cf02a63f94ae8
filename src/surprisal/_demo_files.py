"""Where the bundled demo model lives (``surprisal/demo_model``), apart from the demo's
analyses so that :func:`surprisal.load` can find it by the name ``"demo"``."""

from __future__ import annotations

from pathlib import Path

from .errors import SurprisalError

__all__ = ["DEMO_ALIAS", "DEMO_DIR", "DEMO_NAME", "demo_path"]

#: The name that loads the bundled model: ``surprisal.load("demo")``, ``--model demo``.
DEMO_ALIAS = "demo"

#: The package-data folder holding the demo model, its tokenizer and ``TRAINING.json``.
DEMO_DIR: Path = Path(__file__).resolve().parent / "demo_model"

#: The name the demo model's results carry.
DEMO_NAME = "surprisal-demo (tiny GPT-2 trained on the grammar zoo)"

_REQUIRED = ("config.json", "model.safetensors", "tokenizer.json")


def demo_path() -> Path:
    """The folder of the shipped demo model (``DEMO_DIR``).

    Raises:
        SurprisalError: when the model files are missing (e.g. a source checkout where they
            were deleted); the message says how to rebuild them.
    """
    missing = [f for f in _REQUIRED if not (DEMO_DIR / f).is_file()]
    if missing:
        raise SurprisalError(
            f"the demo model is missing from {DEMO_DIR} (no {', '.join(missing)}); rebuild it "
            "from a source checkout with `python scripts/train_demo_model.py` (a few minutes "
            "on a CPU), or reinstall the package"
        )
    return DEMO_DIR
