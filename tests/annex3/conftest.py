from __future__ import annotations

import pytest

from profiles.ch.valuesets import ValueSets


@pytest.fixture(scope="session")
def vs() -> ValueSets:
    return ValueSets.load()
