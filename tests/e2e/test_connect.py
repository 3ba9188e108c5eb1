"""/mida connect over real HTTP: the modal, the live check against Mida, what is stored."""

from __future__ import annotations

import json

import pytest

from bot.views import ids
from standins.flows import connect
from standins.people import ADMIN, ALICE, TEAM, introduce
from standins.sandbox import API_KEY, PROJECT_KEY


def all_redis_bytes(client) -> bytes:
    dump = b""
    for key in client.scan_iter(count=500):
        dump += key
        kind = client.type(key)
        if kind == b"string":
            dump += client.get(key) or b""
        elif kind == b"hash":
            for f, v in client.hgetall(key).items():
                dump += f + v
        elif kind == b"stream":
            for _, fields in client.xrange(key):
                for f, v in fields.items():
                    dump += f + v
        elif kind == b"set":
            dump += b"".join(client.smembers(key))
        elif kind == b"zset":
            dump += b"".join(m for m, _ in client.zrange(key, 0, -1, withscores=True))
        elif kind == b"list":
            dump += b"".join(client.lrange(key, 0, -1))
    return dump


@pytest.mark.cluster
def test_admin_connects_with_a_good_key(bot, slack, slack_api, mida_sandbox, clean_redis):
    response = connect(slack, slack_api)

    assert response.status_code == 200
    assert response.text == ""  # the modal closes: no errors, nothing to show instead
    # Mida was asked, with the key in the Authorization header only
    checks = mida_sandbox.requests(path_contains="/experiments")
    assert checks and checks[-1]["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert API_KEY not in checks[-1]["path"] and API_KEY not in json.dumps(checks[-1]["query"])
    # A private confirmation with the key masked
    dm = slack_api.wait_for("chat.postMessage", predicate=lambda c: c["channel"] == ADMIN)[-1]
    shown = json.dumps(dm.params, ensure_ascii=False)
    assert "••••" + API_KEY[-4:] in shown and API_KEY not in shown
    # Stored, encrypted: no Redis key or value holds the plaintext key
    dump = all_redis_bytes(clean_redis)
    assert PROJECT_KEY.encode() in dump
    assert API_KEY.encode() not in dump

    slack.command("status", user_id=ALICE)
    status = slack_api.wait_for_response("cmd")[-1]
    assert PROJECT_KEY in json.dumps(status, ensure_ascii=False) and "••••" + API_KEY[-4:] in json.dumps(status, ensure_ascii=False)
    assert API_KEY not in json.dumps(status, ensure_ascii=False)


def test_a_key_mida_rejects_is_an_error_on_the_api_key_field_and_nothing_is_stored(bot, slack, slack_api, clean_redis):
    response = connect(slack, slack_api, api_key="mida_sk_wrong_000000000000")

    body = response.json()
    assert body["response_action"] == "errors"
    assert ids.API_KEY in body["errors"]
    assert "rejected" in body["errors"][ids.API_KEY]
    assert not [k for k in clean_redis.scan_iter(match=b"mida:*workspace*")]


def test_the_wrong_region_is_refused_by_mida(bot, slack, slack_api, clean_redis):
    response = connect(slack, slack_api, region="eu")
    assert response.json()["response_action"] == "errors"
    assert not [k for k in clean_redis.scan_iter(match=b"mida:*workspace*")]


def test_mida_unreachable_is_an_error_in_the_modal(bot, slack, slack_api, mida_sandbox, clean_redis):
    mida_sandbox.fault(path_contains="/experiments", status=503)
    response = connect(slack, slack_api)
    body = response.json()
    assert body["response_action"] == "errors"
    assert "Nothing was saved" in " ".join(body["errors"].values())
    assert not [k for k in clean_redis.scan_iter(match=b"mida:*workspace*")]


def test_a_non_admin_gets_no_modal(bot, slack, slack_api, clean_redis):
    introduce(slack_api)
    assert slack.command("connect", user_id=ALICE).status_code == 200
    reply = slack_api.wait_for_response("cmd")[-1]
    assert "admin" in json.dumps(reply).lower()
    assert slack_api.calls("views.open") == []


def test_status_before_connecting_says_how_to_connect(bot, slack, slack_api):
    introduce(slack_api)
    slack.command("status", user_id=ALICE)
    reply = slack_api.wait_for_response("cmd")[-1]
    assert "/mida connect" in json.dumps(reply)
    assert TEAM
