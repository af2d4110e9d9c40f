"""The clinic month's fd bound (bench.clinic_month.fd_growth) on made-up lifetimes: a leak
tied to work fails it, a pool that opens one more socket once does not."""

from __future__ import annotations

from bench.clinic_month import Sample, fd_growth


def _run(fds: list[int]) -> list[Sample]:
    return [Sample(t=float(i), redis_used=0, redis_keys=0, db_bytes=0, fds={"editor-1": n})
            for i, n in enumerate(fds)]  # fmt: skip


def test_a_steady_leak_is_growth() -> None:
    assert fd_growth(_run([20 + i for i in range(12)]), "editor-1") > 0


def test_a_leak_under_pool_noise_is_growth() -> None:
    # One fd more every other sample, with sockets opening and closing (+-2) on top.
    noise = [0, 2, -1, 1, -2, 0, 2, -1, 1, -2, 0, 2, -1, 1, -2, 0, 2, -1]
    fds = [30 + i // 2 * 2 + n for i, n in enumerate(noise)]
    assert fd_growth(_run(fds), "editor-1") > 0


def test_one_more_pooled_socket_is_not_growth() -> None:
    for at in range(1, 12):  # wherever in the lifetime the pool grows
        assert fd_growth(_run([20] * at + [21] * (12 - at)), "editor-1") <= 0, at


def test_flat_and_closing_are_not_growth() -> None:
    assert fd_growth(_run([25, 26, 25, 24, 26, 25, 25, 24, 25, 26, 25, 25]), "editor-1") <= 0
    assert fd_growth(_run([30 - i for i in range(12)]), "editor-1") <= 0


def test_too_short_a_lifetime_says_nothing() -> None:
    assert fd_growth(_run([1, 2, 3, 4, 5]), "editor-1") == 0
