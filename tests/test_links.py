"""bot/links.py under key rotation: the first of BOT_ENCRYPTION_KEYS signs, every listed key
verifies, and a link signed with a key no longer listed is refused (the pages answer 403 to a
BadLink: tests/web/test_results_page.py)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from bot.domain import TeamRef
from bot.links import BadLink, LinkSigner

TEAM = TeamRef(team_id="T0001")


def test_links_survive_a_rotation_until_the_old_key_is_removed():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = LinkSigner([old], None).token(TEAM, "results", 1234)

    rotated = LinkSigner([new, old], None)
    assert rotated.verify(before, "results").test_id == 1234  # posted before the rotation: still opens
    after = rotated.token(TEAM, "results", 1234)
    assert LinkSigner([new], None).verify(after, "results").test_id == 1234  # signed with the new key

    with pytest.raises(BadLink):
        LinkSigner([new], None).verify(before, "results")  # the old key removed
