"""Shared pytest configuration.

Hypothesis profiles: the suite runs a few examples per property; ``--hypothesis-profile=long``
runs the fuzz tests of tests/test_fuzz.py for minutes (see README, "Errors and limits").
"""

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "long",
    max_examples=4000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """One intra-op torch thread for the test (``pytest.mark.usefixtures("one_torch_thread")``):
    on the shared 2-core test machine, torch's default of one thread per core made the small CPU
    probes of the zoo oracle 40× slower (contention), not faster."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
