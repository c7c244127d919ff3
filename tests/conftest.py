"""Shared pytest configuration.

Hypothesis profiles: the suite runs a few examples per property; ``--hypothesis-profile=long``
runs the fuzz tests of tests/test_fuzz.py for minutes (see README, "Errors and limits").
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "long",
    max_examples=4000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
