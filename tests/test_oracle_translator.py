"""The convcalc → torch translator the oracle tests share knows every registered kind, so a new
layer or merge kind cannot go unchecked against torch for want of a translation."""

from __future__ import annotations

import pytest

from convcalc.layers import LAYER_KINDS, MERGE_KINDS

pytest.importorskip("torch", reason="PyTorch oracle not installed: pip install -e '.[oracle]'")

from tests.torch_build import TRANSLATED_MERGES, TRANSLATIONS

pytestmark = pytest.mark.oracle


def test_every_layer_kind_has_a_torch_module() -> None:
    assert {name for name, kind in LAYER_KINDS.items() if kind not in TRANSLATIONS} == set()


def test_every_merge_kind_has_a_torch_function() -> None:
    assert {name for name, kind in MERGE_KINDS.items() if kind not in TRANSLATED_MERGES} == set()
