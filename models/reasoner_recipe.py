"""The reasoner's training recipe: what ``datamill train reasoner`` uses where no flag or experiment file says otherwise.

Kept apart from ``models.reasoner`` so reading it imports no Keras. Measured in bench/RESULTS.md
(Reasoning): on the 2-core CPU this fits in 30 minutes of training (``max_minutes`` is the cap).
"""

from __future__ import annotations

from typing import Any

RECIPE: dict[str, Any] = {
    "steps": 4500, "batch_size": 128, "learning_rate": 0.003, "warmup_steps": 300, "eval_every": 1000,
    "eval_batches": 4, "checkpoint_every": 1000, "patience": 100, "max_minutes": 30.0}
