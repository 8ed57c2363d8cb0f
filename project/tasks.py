"""The ten tasks of "Power Hungry Processing" (Luccioni, Jernite, Strubell, 2023)."""

from __future__ import annotations

#: task id -> label used in the paper's Table 2
TASKS: dict[str, str] = {
    "text_classification": "text classification",
    "extractive_qa": "extractive QA",
    "masked_lm": "masked language modeling",
    "token_classification": "token classification",
    "image_classification": "image classification",
    "object_detection": "object detection",
    "text_generation": "text generation",
    "summarization": "summarization",
    "image_captioning": "image captioning",
    "image_generation": "image generation",
}

TASK_IDS: tuple[str, ...] = tuple(TASKS)


def task_label(task_id: str) -> str:
    """Human label for a task id; unknown ids are returned with underscores as spaces."""
    return TASKS.get(task_id, task_id.replace("_", " "))
