"""rcoder/config.py: flags > environment > config file > defaults."""

from __future__ import annotations

import pytest

from rcoder import config
from rcoder.errors import ConfigError


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "client.yml"
    path.write_text("url: http://from-file:8088\napi_key: file-key\nproject: p-file\n")
    return path


def test_each_setting_comes_from_the_first_source_that_gives_it(config_file):
    environ = {"RCODER_CLIENT_CONFIG": str(config_file), "RCODER_URL": "http://from-env:1", "USER": "ann"}

    loaded = config.load({"url": None, "project": "p-flag"}, environ)

    assert (loaded.url, loaded.key(), loaded.project, loaded.user) == (
        "http://from-env:1",
        "file-key",
        "p-flag",
        "ann",
    )
    assert config.load({"url": "http://flag:2"}, environ).url == "http://flag:2"
    assert config.load({}, {"XDG_CONFIG_HOME": str(config_file.parent / "none")}).url == config.DEFAULT_URL


def test_the_default_file_is_under_xdg_config_home(tmp_path):
    (tmp_path / "rcoder").mkdir()
    (tmp_path / "rcoder" / "client.yml").write_text("user: bob\n")
    assert config.load({}, {"XDG_CONFIG_HOME": str(tmp_path), "USER": "ann"}).user == "bob"


def test_a_key_file_of_a_higher_source_beats_a_key_of_a_lower_one(config_file, tmp_path):
    (tmp_path / "key").write_text("secret-from-file\n")
    environ = {"RCODER_CLIENT_CONFIG": str(config_file), "RCODER_API_KEY_FILE": str(tmp_path / "key")}
    assert config.load({}, environ).key() == "secret-from-file"
    assert config.load({"api_key": "flag-key"}, environ).key() == "flag-key"


@pytest.mark.parametrize(
    ("text", "message"),
    [("urll: x\n", "unknown setting 'urll'"), ("- a\n", "must be a mapping"), ("url: [\n", "cannot read")],
)
def test_a_bad_file_is_refused_naming_the_problem(tmp_path, text, message):
    path = tmp_path / "client.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        config.load({}, {"RCODER_CLIENT_CONFIG": str(path)})


def test_a_url_without_a_scheme_and_a_missing_key_file_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="must start with http"):
        config.load({"url": "localhost:8088"}, {"XDG_CONFIG_HOME": str(tmp_path)})
    missing = config.load({"api_key_file": str(tmp_path / "nope")}, {"XDG_CONFIG_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="cannot read the API key file"):
        missing.key()
