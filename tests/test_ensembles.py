"""Ensembles: fitted weights favour the better teacher; confidence weighting and routing act per sample."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.teachers.ensemble import (
    Routing,
    average_probabilities,
    confidence_weighted,
    difficulty,
    fit_routing,
    fit_weights,
    log_loss,
)


def noisy_teachers(n: int = 600, seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """A good teacher (right 90% of the time, confident) and a poor one (right 45%, diffuse), 3 classes."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)

    def teacher(accuracy: float, confidence: float) -> np.ndarray:
        guess = np.where(rng.random(n) < accuracy, y, (y + rng.integers(1, 3, n)) % 3)
        probs = np.full((n, 3), (1 - confidence) / 2)
        probs[np.arange(n), guess] = confidence
        return probs

    return y, [teacher(0.9, 0.8), teacher(0.45, 0.5)]


def test_fitted_weights_favour_the_clearly_better_teacher() -> None:
    y, teachers = noisy_teachers()
    weights = fit_weights(teachers, y)
    assert weights.sum() == pytest.approx(1.0)
    assert weights[0] > 0.85
    assert log_loss(y, average_probabilities(teachers, weights)) < log_loss(y, average_probabilities(teachers))


def test_fitted_weights_are_symmetric_for_equal_teachers() -> None:
    p = np.array([[0.7, 0.3], [0.2, 0.8]])
    assert fit_weights([p, p.copy()], [0, 1]) == pytest.approx([0.5, 0.5], abs=1e-3)


def test_confidence_weighting_by_hand() -> None:
    sure = np.array([[0.9, 0.1]])
    unsure = np.array([[0.4, 0.6]])
    # weights 0.9^2 = 0.81 and 0.6^2 = 0.36, normalised
    w = np.array([0.81, 0.36]) / 1.17
    expected = w[0] * sure + w[1] * unsure
    np.testing.assert_allclose(confidence_weighted([sure, unsure], sharpness=2.0), expected)


def test_difficulty_grows_with_disagreement_and_doubt() -> None:
    agree = [np.array([[0.9, 0.1]]), np.array([[0.9, 0.1]])]
    disagree = [np.array([[0.9, 0.1]]), np.array([[0.1, 0.9]])]
    assert difficulty(agree)[0] == pytest.approx(0.1)
    assert difficulty(disagree)[0] > difficulty(agree)[0]


def test_routing_sends_only_hard_inputs_to_the_strong_teachers() -> None:
    cheap = np.array([[0.95, 0.05], [0.5, 0.5]])
    strong = np.array([[0.2, 0.8], [0.1, 0.9]])
    routed, hard = Routing(cheap=[0], strong=[1], threshold=0.3).apply([cheap, strong])
    assert hard.tolist() == [False, True]
    np.testing.assert_allclose(routed, [[0.95, 0.05], [0.1, 0.9]])


def test_fitted_routing_beats_the_cheap_teacher_alone() -> None:
    y, (good, poor) = noisy_teachers(seed=1)
    routing = fit_routing([poor, good], y, cheap=[0])
    routed, hard = routing.apply([poor, good])
    # the cheap teacher is equally unsure of every row (0.5), so no threshold tells rows apart: all go to the strong one
    assert hard.all()
    np.testing.assert_allclose(routed, good)
    assert log_loss(y, routed) < log_loss(y, poor)
