"""RecentSignatures: the guess, before the replay check answers, that a request is a first delivery."""

from __future__ import annotations

from bot.web import slack_events
from bot.web.slack_events import FRESH, RecentSignatures

NOW = 1_800_000_000.0


def test_a_fresh_signature_is_first_once() -> None:
    recent = RecentSignatures()
    assert recent.first_here("v0=a", str(int(NOW)), NOW)
    assert not recent.first_here("v0=a", str(int(NOW)), NOW + 1)
    assert recent.first_here("v0=b", str(int(NOW)), NOW + 1)


def test_a_request_far_from_its_timestamp_is_never_guessed_first() -> None:
    recent = RecentSignatures()
    assert not recent.first_here("v0=old", str(int(NOW - FRESH - 1)), NOW)
    assert not recent.first_here("v0=ahead", str(int(NOW + FRESH + 1)), NOW)


def test_a_signature_is_remembered_as_long_as_it_can_be_fresh(monkeypatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(slack_events.time, "monotonic", lambda: clock[0])
    recent = RecentSignatures()
    assert recent.first_here("v0=a", str(int(NOW)), NOW)
    for step in range(1, 13):  # every half second up to 2 × FRESH later, past one turn of the window
        clock[0] = 100.0 + step * FRESH / 6
        assert not recent.first_here("v0=a", str(int(NOW)), NOW), step


def test_old_signatures_are_let_go(monkeypatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(slack_events.time, "monotonic", lambda: clock[0])
    recent = RecentSignatures()
    for n in range(100):
        recent.first_here(f"v0={n}", str(int(NOW)), NOW)
    clock[0] += 5 * FRESH
    recent.first_here("v0=new", str(int(NOW + 5 * FRESH)), NOW + 5 * FRESH)
    assert len(recent._current) + len(recent._previous) == 1
