"""Knowledge-distillation losses.

The soft-target term follows Hinton et al. (2015): KL(teacher_T || student_T) scaled by T², so that its
gradients keep the same magnitude as the hard-label term whatever the temperature.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPSILON = 1e-8


def soften_probabilities(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """Teacher probabilities at temperature T: softmax(log p / T)."""
    return torch.softmax(torch.log(probs.clamp_min(EPSILON)) / temperature, dim=-1)


def soft_target_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """T² · KL(teacher_T ‖ student_T), averaged over the batch.

    >>> import torch
    >>> round(float(soft_target_loss(torch.zeros(1, 2), torch.tensor([[0.5, 0.5]]), 2.0)), 6)
    0.0
    """
    target = soften_probabilities(teacher_probs, temperature)
    log_student = F.log_softmax(student_logits / temperature, dim=-1)
    return F.kl_div(log_student, target, reduction="batchmean") * temperature**2


def distillation_loss(
    student_logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_probs: torch.Tensor | None,
    temperature: float,
    alpha: float,
) -> torch.Tensor:
    """α · CE(gold) + (1 − α) · T² · KL(teacher_T ‖ student_T); plain CE when there are no teacher probabilities."""
    hard = F.cross_entropy(student_logits, labels)
    if teacher_probs is None or alpha >= 1.0:
        return hard
    soft = soft_target_loss(student_logits, teacher_probs, temperature)
    return alpha * hard + (1.0 - alpha) * soft
