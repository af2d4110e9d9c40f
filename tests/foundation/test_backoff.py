"""shared.backoff: the doubling ceiling and equal jitter every retry loop uses."""

from __future__ import annotations

import random

import pytest

from shared.backoff import equal_jitter, exponential


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(0, 0.5), (1, 1.0), (2, 2.0), (5, 16.0), (6, 30.0), (7, 30.0), (-1, 0.25)],
)
def test_doubles_from_initial_up_to_the_cap(attempt: int, expected: float) -> None:
    assert exponential(attempt, 0.5, 30.0) == expected


def test_the_cap_wins_when_initial_is_above_it() -> None:
    assert exponential(0, 5.0, 2.0) == 2.0


@pytest.mark.parametrize("attempt", [1_023, 1_024, 10_000, 10**9])
def test_huge_attempts_do_not_overflow(attempt: int) -> None:
    assert exponential(attempt, 0.5, 30.0) == 30.0
    assert exponential(attempt, 1e300, 30.0) == 30.0  # the product may be inf: still capped


def test_returns_a_float_for_int_inputs() -> None:
    value = exponential(3, 1, 30)
    assert isinstance(value, float)
    assert value == 8.0


def test_equal_jitter_stays_within_half_and_full_ceiling() -> None:
    rng = random.Random(7)
    values = [equal_jitter(8.0, rng) for _ in range(2_000)]
    assert all(4.0 <= v <= 8.0 for v in values)
    assert max(values) - min(values) > 2.0  # it does spread, not a constant


def test_equal_jitter_is_the_old_formula_for_a_seeded_rng() -> None:
    a, b = random.Random(42), random.Random(42)
    for ceiling in (0.5, 3.0, 30.0):
        assert equal_jitter(ceiling, a) == ceiling / 2 + b.uniform(0, ceiling / 2)
