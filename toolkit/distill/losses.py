"""Knowledge-distillation losses.

The soft-target term follows Hinton et al. (2015): KL(teacher_T || student_T) scaled by T², so that its
gradients keep the same magnitude as the hard-label term whatever the temperature. Intermediate-layer terms
follow TinyBERT: mean squared error between (projected) hidden states and between attention maps.
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


def hard_label_loss(
    logits: torch.Tensor, labels: torch.Tensor, class_weights: torch.Tensor | None = None, focal_gamma: float = 0.0
) -> torch.Tensor:
    """Cross-entropy on gold labels, optionally class-weighted, or focal loss when `focal_gamma` > 0."""
    if focal_gamma <= 0.0:
        return F.cross_entropy(logits, labels, weight=class_weights)
    log_p = F.log_softmax(logits, dim=-1).gather(1, labels[:, None]).squeeze(1)
    focal = -((1.0 - log_p.exp()) ** focal_gamma) * log_p
    if class_weights is not None:
        w = class_weights[labels]
        return (w * focal).sum() / w.sum()
    return focal.mean()


def distillation_loss(
    student_logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_probs: torch.Tensor | None,
    temperature: float,
    alpha: float,
    class_weights: torch.Tensor | None = None,
    focal_gamma: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """α · CE(gold) + (1 − α) · T² · KL(teacher_T ‖ student_T), and the KD term alone (None without a teacher).

    >>> logits, gold, teacher = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([0]), torch.tensor([[0.7, 0.2, 0.1]])
    >>> loss, kd = distillation_loss(logits, gold, teacher, temperature=2.0, alpha=0.5)
    >>> round(loss.item(), 4), round(kd.item(), 4)
    (0.134, 0.0982)
    """
    hard = hard_label_loss(student_logits, labels, class_weights, focal_gamma)
    if teacher_probs is None or alpha >= 1.0:
        return hard, None
    soft = soft_target_loss(student_logits, teacher_probs, temperature)
    return alpha * hard + (1.0 - alpha) * soft, soft


def hidden_state_loss(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error between (already projected) student and teacher hidden states over real tokens."""
    m = mask[..., None].to(student.dtype)
    return ((student - teacher) ** 2 * m).sum() / (m.sum() * student.shape[-1]).clamp_min(1.0)


def attention_map_loss(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MSE between attention maps (batch, heads, q, k) over real query/key pairs; head-averaged if counts differ."""
    if student.shape[1] != teacher.shape[1]:
        student, teacher = student.mean(1, keepdim=True), teacher.mean(1, keepdim=True)
    pair = (mask[:, None, :, None] * mask[:, None, None, :]).to(student.dtype)
    return ((student - teacher) ** 2 * pair).sum() / (pair.sum() * student.shape[1]).clamp_min(1.0)
