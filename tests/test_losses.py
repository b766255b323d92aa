"""The KD loss matches hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from toolkit.distill.losses import distillation_loss, soft_target_loss, soften_probabilities


def hand_kd(student_logits: list[float], teacher_probs: list[float], t: float) -> float:
    """T² · Σ p_T log(p_T / q_T), written out with math only."""
    pt = [math.exp(math.log(p) / t) for p in teacher_probs]
    pt = [x / sum(pt) for x in pt]
    qt = [math.exp(z / t) for z in student_logits]
    qt = [x / sum(qt) for x in qt]
    return t * t * sum(p * math.log(p / q) for p, q in zip(pt, qt, strict=True))


def test_soft_target_loss_matches_hand_computation() -> None:
    logits, teacher, t = [2.0, 0.5, -1.0], [0.6, 0.3, 0.1], 2.0
    got = soft_target_loss(torch.tensor([logits]), torch.tensor([teacher]), t)
    assert float(got) == pytest.approx(hand_kd(logits, teacher, t), rel=1e-5)


def test_soft_target_loss_known_value() -> None:
    # student uniform over 2 classes, teacher (0.8, 0.2), T = 1: KL = 0.8 ln 1.6 + 0.2 ln 0.4
    got = soft_target_loss(torch.zeros(1, 2), torch.tensor([[0.8, 0.2]]), 1.0)
    assert float(got) == pytest.approx(0.8 * math.log(1.6) + 0.2 * math.log(0.4), rel=1e-6)


def test_temperature_squared_scaling() -> None:
    logits, teacher = [1.0, 0.0], [0.9, 0.1]
    at_t3 = float(soft_target_loss(torch.tensor([logits]), torch.tensor([teacher]), 3.0))
    unscaled = hand_kd(logits, teacher, 3.0) / 9.0
    assert at_t3 == pytest.approx(9.0 * unscaled, rel=1e-5)


def test_softening_flattens_teacher() -> None:
    soft = soften_probabilities(torch.tensor([[0.9, 0.1]]), 3.0)[0]
    expected_first = 0.9 ** (1 / 3) / (0.9 ** (1 / 3) + 0.1 ** (1 / 3))
    assert float(soft[0]) == pytest.approx(expected_first, rel=1e-6)


def test_alpha_mixes_cross_entropy_and_kd() -> None:
    logits = torch.tensor([[1.5, -0.5, 0.0]])
    labels = torch.tensor([0])
    teacher = torch.tensor([[0.5, 0.2, 0.3]])
    ce = -math.log(math.exp(1.5) / (math.exp(1.5) + math.exp(-0.5) + 1.0))
    kd = hand_kd([1.5, -0.5, 0.0], [0.5, 0.2, 0.3], 2.0)
    got, kd_term = distillation_loss(logits, labels, teacher, temperature=2.0, alpha=0.25)
    assert float(got) == pytest.approx(0.25 * ce + 0.75 * kd, rel=1e-5)
    assert float(kd_term) == pytest.approx(kd, rel=1e-5)


def test_without_teacher_the_loss_is_cross_entropy() -> None:
    logits = torch.tensor([[0.0, 0.0]])
    loss, kd_term = distillation_loss(logits, torch.tensor([1]), None, 2.0, 0.5)
    assert float(loss) == pytest.approx(math.log(2)) and kd_term is None


def test_focal_loss_by_hand() -> None:
    from toolkit.distill.losses import hard_label_loss

    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    p = [math.exp(2) / (math.exp(2) + 1), math.exp(1) / (math.exp(1) + 1)]  # probability of the true class
    expected = sum(-((1 - q) ** 2) * math.log(q) for q in p) / 2
    assert float(hard_label_loss(logits, torch.tensor([0, 1]), focal_gamma=2.0)) == pytest.approx(expected, rel=1e-5)


def test_class_weights_weight_the_cross_entropy() -> None:
    from toolkit.distill.losses import hard_label_loss

    logits = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    weighted = hard_label_loss(logits, torch.tensor([0, 1]), class_weights=torch.tensor([1.0, 3.0]))
    assert float(weighted) == pytest.approx(math.log(2))  # equal per-sample losses: weights cancel


def test_hidden_and_attention_losses_ignore_padding() -> None:
    from toolkit.distill.losses import attention_map_loss, hidden_state_loss

    mask = torch.tensor([[1, 1, 0]])
    student, teacher = torch.zeros(1, 3, 2), torch.zeros(1, 3, 2)
    teacher[0, 0] = torch.tensor([1.0, 1.0])
    teacher[0, 2] = torch.tensor([9.0, 9.0])  # padding: must not count
    assert float(hidden_state_loss(student, teacher, mask)) == pytest.approx(2.0 / 4.0)
    s_attn, t_attn = torch.zeros(1, 2, 3, 3), torch.zeros(1, 1, 3, 3)
    t_attn[0, 0, 0, 0] = 1.0
    # different head counts: both averaged over heads; 4 real (query, key) pairs
    assert float(attention_map_loss(s_attn, t_attn, mask)) == pytest.approx(1.0 / 4.0)
