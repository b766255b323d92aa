"""The distillation trainer: a `transformers.Trainer` whose loss mixes gold labels and teacher soft targets.

Inheriting the HF Trainer gives logging, checkpoints, resume, mixed precision and DDP / DeepSpeed for free;
only `compute_loss` changes. Teacher probabilities come with each batch (read from the run's teacher outputs),
so no teacher forward pass runs inside the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import Trainer, TrainingArguments

from toolkit.distill.losses import distillation_loss


@dataclass
class DistillationArguments(TrainingArguments):
    """`TrainingArguments` plus the distillation knobs."""

    temperature: float = field(default=2.0, metadata={"help": "softening temperature T of the KL term"})
    alpha: float = field(default=0.5, metadata={"help": "weight of the gold-label cross-entropy; 1 - alpha goes to KL"})


class DistillationTrainer(Trainer):
    """Trainer with loss α·CE(gold) + (1−α)·T²·KL(teacher_T ‖ student_T).

    Batches without `teacher_probs` train on gold labels alone, so the same trainer fine-tunes teachers.
    """

    args: DistillationArguments

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: D102
        labels = inputs.pop("labels")
        teacher_probs = inputs.pop("teacher_probs", None)
        outputs = model(**inputs)
        loss = distillation_loss(outputs.logits, labels, teacher_probs, self.args.temperature, self.args.alpha)
        return (loss, outputs) if return_outputs else loss
