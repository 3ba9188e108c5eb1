"""The suite's result does not depend on the caller's environment: stray settings in the
environment or in a `.env` where pytest runs reach no bot under test, and with REDIS_URL at a
port where nothing listens the suite starts its own Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from standins.bot_server import REPO, BotProcess, bot_env

STRAY = {
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "SLACK_BOT_TOKEN": "xoxb-junk",
    "SLACK_CLIENT_ID": "junk.client",
    "SLACK_CLIENT_SECRET": "junk-secret",
    "SLACK_API_URL": "http://127.0.0.1:1/api/",
    "MIDA_API_URL": "http://127.0.0.1:1/{region}/v2",
    "MIDA_JOB_STALE_AFTER_MS": "1",
    "LOG_LEVEL": "LOUD",
    "PORT": "not-a-port",
    "BOT_ENCRYPTION_KEYS": "not-a-key",
    "PUBLIC_URL": "not-a-url",
}
DOTENV = "SLACK_SIGNING_SECRET=junk\nSLACK_CLIENT_ID=dotenv.client\nSLACK_CLIENT_SECRET=dotenv\nLOG_LEVEL=LOUD\n"
# Settings defaults, an in-process bot (which stray OAuth credentials would switch to OAuth
# mode) and bot subprocesses (split web and worker).
SELECTION = [
    "tests/test_config.py",
    "tests/e2e/test_read_commands.py::test_list_shows_each_experiment_with_its_serving_state",
    "tests/e2e/test_split_processes.py",
]


def test_the_suite_ignores_stray_settings_in_the_environment_and_dotenv(tmp_path: Path):
    (tmp_path / ".env").write_text(DOTENV)
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *(str(REPO / s) for s in SELECTION)],
        cwd=tmp_path, env={**keep, **STRAY}, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="reads the process's directory from /proc (Linux)")
def test_a_bot_subprocess_runs_in_its_own_directory_not_where_a_dotenv_may_be(
    redis_url, slack_api, mida_sandbox, tmp_path
):
    bot = BotProcess(
        bot_env(redis_url=redis_url, slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url),
        tmp_path / "bot.log",
    ).start()
    try:
        assert httpx.get(f"{bot.url}/healthz").status_code == 200
        assert Path(f"/proc/{bot.proc.pid}/cwd").resolve() == tmp_path.resolve()
    finally:
        bot.stop()
