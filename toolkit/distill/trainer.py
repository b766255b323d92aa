"""The distillation trainer: a `transformers.Trainer` whose loss mixes gold labels, teacher soft targets and,
optionally, intermediate-layer transfer.

    loss = α·CE(gold) + (1−α)·T²·KL(teacher_T ‖ student_T) + β·attention loss + γ·hidden-state loss

Inheriting the HF Trainer gives logging, checkpoints, resume, mixed precision and DDP / DeepSpeed for free; only
`compute_loss` (and the optimizer, to train the width projections) change. Soft targets come with each batch
(read from the run's cached teacher outputs), so no teacher forward pass runs inside the loop unless
intermediate transfer needs one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers import Trainer, TrainingArguments

from toolkit.distill.losses import attention_map_loss, distillation_loss, hidden_state_loss
from toolkit.distill.schedules import Schedule


@dataclass
class DistillationArguments(TrainingArguments):
    """`TrainingArguments` plus the distillation knobs."""

    temperature: float = field(default=2.0, metadata={"help": "softening temperature T of the KL term"})
    alpha: float = field(default=0.5, metadata={"help": "weight of the gold-label cross-entropy; 1 - alpha to KL"})
    focal_gamma: float = field(default=0.0, metadata={"help": "> 0: focal loss on gold labels"})


@dataclass
class IntermediateTransfer:
    """A transformer teacher and which of its layers the student's layers imitate."""

    teacher: torch.nn.Module
    layer_map: list[tuple[int, int]]  # (teacher hidden-state index, student hidden-state index); 0 = embeddings
    hidden_weight: float = 1.0
    attention_weight: float = 1.0


class DistillationTrainer(Trainer):
    """Trainer with the loss above. Batches without `teacher_probs` train on gold labels alone, so the same trainer
    fine-tunes teachers. Temperature and α follow their schedules and are logged every step in `schedule_log`
    (`schedule_trace()` gives it as numbers). toolkit/distill/fit.py `fit_classifier` builds one for a run.

    >>> args = DistillationArguments(output_dir="out", temperature=2.0, alpha=0.5)  # doctest: +SKIP
    >>> DistillationTrainer(model=student, args=args, train_dataset=train, eval_dataset=val).train()  # doctest: +SKIP
    """

    args: DistillationArguments

    def __init__(
        self,
        *args,
        temperature_schedule: Schedule | None = None,
        alpha_schedule: Schedule | None = None,
        class_weights: torch.Tensor | None = None,
        intermediate: IntermediateTransfer | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.temperature_schedule = temperature_schedule
        self.alpha_schedule = alpha_schedule
        self.class_weights = class_weights
        self.intermediate = intermediate
        self.schedule_log: list[dict] = []
        self._last_kd: float | None = None
        self._adaptive = temperature_schedule is not None and temperature_schedule.spec.kind == "adaptive"
        self.projections = torch.nn.ModuleList()
        if intermediate is not None:
            intermediate.teacher.eval().requires_grad_(False).to(self.args.device)
            s_width = self.model.config.hidden_size
            t_width = intermediate.teacher.config.hidden_size
            self.projections = torch.nn.ModuleList(
                torch.nn.Linear(s_width, t_width) for _ in intermediate.layer_map
            ).to(self.args.device)

    def create_optimizer(self, model=None):
        optimizer = super().create_optimizer(model)
        params = list(self.projections.parameters())
        known = {id(p) for group in optimizer.param_groups for p in group["params"]}
        if params and id(params[0]) not in known:  # the width projections learn with the student
            optimizer.add_param_group({"params": params, "weight_decay": 0.0})
        return optimizer

    def _current(self) -> tuple[float, float]:
        progress = self.state.global_step / max(1, self.state.max_steps)
        temperature = (
            self.temperature_schedule.value(progress, self._last_kd)
            if self.temperature_schedule
            else self.args.temperature
        )
        alpha = self.alpha_schedule.value(progress) if self.alpha_schedule else self.args.alpha
        return temperature, alpha

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: D102
        labels = inputs.pop("labels")
        teacher_probs = inputs.pop("teacher_probs", None)
        temperature, alpha = self._current()
        inter = self.intermediate
        want_attention = inter is not None and inter.attention_weight > 0
        outputs = model(**inputs, output_hidden_states=inter is not None, output_attentions=want_attention)
        weights = None if self.class_weights is None else self.class_weights.to(outputs.logits.device)
        loss, kd = distillation_loss(
            outputs.logits, labels, teacher_probs, temperature, alpha, weights, self.args.focal_gamma
        )
        # kept as tensors: a float() per step would wait for the GPU every step; read once training is over
        parts = {"kd": kd.detach() if kd is not None else None}
        if inter is not None:
            extra = self._intermediate_loss(outputs, inputs, want_attention)
            loss = loss + extra
            parts["intermediate"] = extra.detach()
        if model.training:
            if self._adaptive and kd is not None:  # the one schedule that needs the value now
                self._last_kd = float(parts["kd"])
            self.schedule_log.append(
                {"step": self.state.global_step, "temperature": temperature, "alpha": alpha, **parts}
            )
        return (loss, outputs) if return_outputs else loss

    def _intermediate_loss(self, outputs, inputs, want_attention: bool) -> torch.Tensor:
        inter = self.intermediate
        with torch.no_grad():
            teacher_out = inter.teacher(**inputs, output_hidden_states=True, output_attentions=want_attention)
        mask = inputs["attention_mask"]
        total = outputs.logits.new_zeros(())
        for projection, (t_layer, s_layer) in zip(self.projections, inter.layer_map, strict=True):
            student_hidden = projection(outputs.hidden_states[s_layer])
            total = total + inter.hidden_weight * hidden_state_loss(
                student_hidden, teacher_out.hidden_states[t_layer], mask
            )
            if want_attention and t_layer > 0 and s_layer > 0:  # attention i produces hidden state i + 1
                total = total + inter.attention_weight * attention_map_loss(
                    outputs.attentions[s_layer - 1], teacher_out.attentions[t_layer - 1], mask
                )
        return total

    def schedule_trace(self) -> list[dict]:
        """The per-step temperature, α and loss parts, as plain numbers."""
        return [
            {key: float(value) if isinstance(value, torch.Tensor) else value for key, value in step.items()}
            for step in self.schedule_log
        ]

    def log(self, logs: dict, *args, **kwargs) -> None:
        if self.schedule_log and "loss" in logs:
            last = self.schedule_log[-1]
            logs = {**logs, "temperature": round(last["temperature"], 4), "alpha": round(last["alpha"], 4)}
        super().log(logs, *args, **kwargs)
