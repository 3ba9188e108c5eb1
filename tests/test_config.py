"""Settings: read once, and a missing or bad one stops start-up with a message that names it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from bot.config import ConfigError, Settings, load_settings
from standins.bot_server import REPO

KEY = Fernet.generate_key().decode()


def test_defaults_follow_the_contract():
    settings = Settings(_env_file=None)
    assert settings.SLACK_API_URL == "https://slack.com/api/"
    assert settings.REDIS_URL == "redis://localhost:6379/0"
    assert settings.MIDA_API_URL == "https://api-{region}.mida.so/v2"
    assert settings.MIDA_DASHBOARD_URL == "https://app.mida.so/project/{project_key}/"
    assert settings.LOG_LEVEL == "INFO"
    assert settings.LOG_FORMAT == "text"
    assert settings.MIDA_METRICS_PORT == 9464


def test_every_missing_setting_is_named_with_where_to_get_it():
    with pytest.raises(ConfigError) as err:
        Settings(_env_file=None).require_for_http()
    text = str(err.value)
    for name in ("SLACK_SIGNING_SECRET", "BOT_ENCRYPTION_KEYS", "PUBLIC_URL", "SLACK_BOT_TOKEN"):
        assert name in text
    assert "mida-slack keygen" in text


@pytest.mark.parametrize(
    ("name", "value"),
    [("BOT_ENCRYPTION_KEYS", "not-a-key"), ("PUBLIC_URL", "mida-bot.example.com"), ("LOG_LEVEL", "LOUD"),
     ("AUDIT_MAX_ENTRIES", "5"), ("LOG_FORMAT", "xml"), ("MIDA_METRICS_PORT", "0")],
)
def test_a_bad_setting_is_named(name, value):
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None, **{name: value})
    assert name in str(err.value)
    if name == "BOT_ENCRYPTION_KEYS":  # a would-be key is a secret: never echoed back
        assert value not in str(err.value)


def test_rotation_keys_and_a_slashless_api_url():
    other = Fernet.generate_key().decode()
    settings = Settings(_env_file=None, BOT_ENCRYPTION_KEYS=f"{KEY}, {other}", SLACK_API_URL="http://127.0.0.1:1/api")
    assert settings.encryption_keys == [KEY, other]
    assert settings.SLACK_API_URL == "http://127.0.0.1:1/api/"


def test_serve_without_credentials_stops_with_a_message_not_a_traceback(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "bot", "serve"], cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 2
    assert "SLACK_SIGNING_SECRET" in run.stderr and "Traceback" not in run.stderr


def test_keygen_prints_a_usable_key():
    run = subprocess.run([sys.executable, "-m", "bot", "keygen"], cwd=REPO, capture_output=True, text=True, timeout=60)
    Fernet(run.stdout.strip())


def test_a_dotenv_file_is_read_and_the_environment_wins(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_LEVEL=ERROR\nPUBLIC_URL=https://from-dotenv.example/\n")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    settings = Settings(_env_file=env_file)
    assert (settings.LOG_LEVEL, settings.PUBLIC_URL) == ("WARNING", "https://from-dotenv.example")
