"""Fixtures for the checklists tests beyond the project-wide ones in the root conftest.py."""

from datetime import timedelta

import pytest
from django.utils import timezone


@pytest.fixture
def clock(monkeypatch):
    """Move the clock forward: `clock(minutes=61)` — everything that asks Django for the time sees it."""
    real_now = timezone.now
    offset = timedelta()

    def now():
        return real_now() + offset

    def advance(**delta):
        nonlocal offset
        offset += timedelta(**delta)

    monkeypatch.setattr(timezone, "now", now)
    return advance
