"""Example counts for the hypothesis properties: a few in the suite, many under the long profile
(``--hypothesis-profile=long``, registered in conftest.py)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

LONG = settings.get_current_profile_name() == "long"


def examples(count: int, long: int | None = None) -> settings:
    """``count`` examples in the suite; the long profile's count in a long run (or ``long``, for
    properties that start a process per example)."""
    if LONG:
        most = settings().max_examples if long is None else long
        return settings(
            settings.default, max_examples=most, suppress_health_check=list(HealthCheck)
        )
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
