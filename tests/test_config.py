"""Settings: command line beats environment beats `paycli.toml` beats the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from paycli.config import Settings
from paycli.errors import UsageError


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder standing in for the user's (the CLI passes `typer.get_app_dir`)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    folder = tmp_path / "paycli"
    folder.mkdir()
    return folder


class TestPrecedence:
    def test_default_when_nothing_sets_it(self, config_home: Path) -> None:
        """With no flag, variable or file, the contract's default applies."""
        settings = Settings(env={}, data_dir=config_home)
        assert settings.gateway_url == "http://127.0.0.1:3000"
        assert settings.retry_attempts == 3 and settings.breaker_reset_seconds == 30.0
        assert settings.db == str(config_home / "ledger.db")

    def test_file_beats_default(self, config_home: Path) -> None:
        """`paycli.toml` in the data folder overrides the defaults."""
        (config_home / "paycli.toml").write_text('retry_attempts = 7\ngateway_url = "http://h:1"\n')
        settings = Settings(env={}, data_dir=config_home)
        assert settings.retry_attempts == 7 and settings.gateway_url == "http://h:1"

    def test_environment_beats_file(self, config_home: Path) -> None:
        """A PAYCLI_* variable overrides the file."""
        (config_home / "paycli.toml").write_text("retry_attempts = 7\n")
        settings = Settings(env={"PAYCLI_RETRY_ATTEMPTS": "4"}, data_dir=config_home)
        assert settings.retry_attempts == 4

    def test_command_line_beats_environment(self, config_home: Path) -> None:
        """A global option overrides the variable."""
        settings = Settings(overrides={"gateway_url": "http://cli:2"},
                            env={"PAYCLI_GATEWAY_URL": "http://env:3"})
        assert settings.gateway_url == "http://cli:2"

    def test_a_broken_file_is_a_usage_error(self, config_home: Path) -> None:
        """A paycli.toml that is not TOML is reported, not a crash."""
        (config_home / "paycli.toml").write_text("retry_attempts = = 3\n")
        with pytest.raises(UsageError, match=r"paycli\.toml"):
            Settings(env={}, data_dir=config_home).retry_attempts  # noqa: B018

    def test_the_api_key_is_not_in_the_repr(self, config_home: Path) -> None:
        """Settings never show the secret, whatever holds it."""
        settings = Settings(env={"PAYCLI_GATEWAY_API_KEY": "canary-key-123"})
        assert settings.gateway_api_key == "canary-key-123"
        assert "canary-key-123" not in repr(settings)


class TestDataFolder:
    def test_without_a_data_folder_no_file_is_read(self, config_home: Path) -> None:
        """Settings made in code (the bench, the demo) read no paycli.toml."""
        (config_home / "paycli.toml").write_text("retry_attempts = 7\n")
        assert Settings(env={}).retry_attempts == 3

    def test_without_a_data_folder_the_ledger_must_be_named(self) -> None:
        """With no data folder there is no default ledger: a clear usage error."""
        with pytest.raises(UsageError, match="--db"):
            Settings(env={}).db  # noqa: B018
