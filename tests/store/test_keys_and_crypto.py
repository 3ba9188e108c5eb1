import pytest

from bot.domain import TeamRef
from bot.store.crypto import SecretBox, UndecryptableSecret
from bot.store.keys import index_member, new_id, parse_index_member, scope_key, team_from_key, ws_key


def test_ws_key_shares_the_workspace_hash_tag():
    assert ws_key(TeamRef(team_id="T123"), "workspace") == "mida:{T123}:workspace"
    grid = TeamRef(team_id="T123", enterprise_id="E1")
    assert ws_key(grid, "req", "abc", "approvers") == "mida:{E1:T123}:req:abc:approvers"
    assert scope_key("T1") == "mida:{T1}"


def test_scope_key_refuses_braces():
    with pytest.raises(ValueError):
        scope_key("T{1}", "x")


def test_team_key_round_trip_and_index_members():
    for team in (TeamRef(team_id="T1"), TeamRef(team_id="T1", enterprise_id="E9")):
        assert team_from_key(team.key) == team
        assert parse_index_member(index_member(team, "r-1_x").encode()) == (team.key, "r-1_x")


def test_new_id_is_random_and_url_safe():
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    for i in ids:
        assert len(i) >= 16  # 128 bits in url-safe base64 = 22 chars
        assert all(c.isalnum() or c in "-_" for c in i)


def test_secretbox_round_trip_and_rotation():
    a, b = SecretBox.generate_key(), SecretBox.generate_key()
    old = SecretBox([a])
    token = old.encrypt("mida-secret-key")
    assert b"mida-secret-key" not in token
    both = SecretBox([b, a])
    assert both.decrypt(token) == "mida-secret-key"
    assert both.needs_rotation(token)
    rotated = both.rotate(token)
    assert not both.needs_rotation(rotated)
    assert SecretBox([b]).decrypt(rotated) == "mida-secret-key"
    assert not old.needs_rotation(token)


def test_secretbox_wrong_key_raises_without_the_token():
    token = SecretBox([SecretBox.generate_key()]).encrypt("plain-api-key")
    with pytest.raises(UndecryptableSecret) as exc:
        SecretBox([SecretBox.generate_key()]).decrypt(token)
    assert token.decode() not in str(exc.value) and "plain" not in str(exc.value)
    with pytest.raises(UndecryptableSecret):
        SecretBox([SecretBox.generate_key()]).decrypt(b"garbage")


def test_secretbox_needs_a_valid_key():
    with pytest.raises(ValueError):
        SecretBox([])
    with pytest.raises(ValueError):
        SecretBox(["not-a-key"])


def test_is_valid_id():
    from bot.store.keys import is_valid_id

    assert is_valid_id(new_id()) and is_valid_id("abc-DEF_123")
    for bad in ("", "a:b", "a b", "{x}", "x" * 65, "é"):
        assert not is_valid_id(bad)


def test_secretbox_remembers_what_a_token_opens_to_but_never_a_token_it_cannot_open(monkeypatch):
    monkeypatch.setattr("bot.store.crypto._OPENED_KEPT", 2)
    old, new = SecretBox.generate_key(), SecretBox.generate_key()
    token = SecretBox([old]).encrypt("mk_secret_1")
    box = SecretBox([new, old])
    assert box.decrypt(token) == "mk_secret_1" and box.needs_rotation(token)
    assert box.decrypt(token) == "mk_secret_1" and box.needs_rotation(token)  # remembered: the same
    tampered = token[:-2] + (b"A" if token[-2:-1] != b"A" else b"B") + token[-1:]
    with pytest.raises(UndecryptableSecret):
        box.decrypt(tampered)
    assert box.needs_rotation(tampered)
    for i in range(3):
        assert box.decrypt(box.encrypt(f"mk_other_{i}")) == f"mk_other_{i}"
    assert len(box._opened) == 2
    assert SecretBox([new]).needs_rotation(token)  # a box without the old key cannot open it
