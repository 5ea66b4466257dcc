"""Fixtures for the CH:XUA and TLS tests: our own test CA and assertion signers."""
from __future__ import annotations

import datetime as dt

import pytest

from gateway.security.trust import TrustStore
from gateway.security.xua import AssertionVerifier
from support.pki import TestCA, self_signed

UTC = dt.timezone.utc


@pytest.fixture(scope="session")
def ca():
    return TestCA()


@pytest.fixture(scope="session")
def signer(ca):
    """An X-Assertion Provider certificate, valid now and back to 2018 (the samples' time)."""
    return ca.issue("test X-Assertion Provider", start=dt.datetime(2018, 1, 1, tzinfo=UTC), days=5000)


@pytest.fixture(scope="session")
def stranger():
    return self_signed("some other X-Assertion Provider")


@pytest.fixture
def verifier(signer):
    def make(now: dt.datetime | None = None, **kw) -> AssertionVerifier:
        clock = (lambda: now) if now is not None else (lambda: dt.datetime.now(UTC))
        return AssertionVerifier(TrustStore([signer.cert]), now=clock, **kw)
    return make
