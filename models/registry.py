"""Every trainable task by name: the one module that knows them all, so no task module imports another."""

from __future__ import annotations

from models.reasoner import Reasoner
from models.tasks import ImageClassifier, LanguageIdentifier, LanguageModel, Task, Translator

TASKS: dict[str, type[Task]] = {"image_classifier": ImageClassifier, "language_model": LanguageModel,
                                "translator": Translator, "language_id": LanguageIdentifier, "reasoner": Reasoner}
