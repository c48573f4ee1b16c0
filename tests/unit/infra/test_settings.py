"""infra/settings.py: the stack's config read into Settings, with the defaults of `make up`."""

from __future__ import annotations

from infra.settings import Settings, default_ca_bundle


class Config:
    """The part of pulumi.Config that Settings.from_config reads, over a dict."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.values.get(key, default)

    def get_int(self, key: str, default: int | None = None) -> int | None:
        return int(self.values[key]) if key in self.values else default

    def get_bool(self, key: str, default: bool | None = None) -> bool | None:
        return self.values[key] == "true" if key in self.values else default

    def get_secret(self, key: str) -> None:
        return None

    def get_object(self, key: str) -> None:
        return None


def test_the_images_trust_this_hosts_store_unless_told_otherwise(tmp_path):
    store = tmp_path / "ca-certificates.crt"
    store.write_text("-----BEGIN CERTIFICATE-----\n")

    assert default_ca_bundle(store) == str(store), "as scripts/build-images, for TLS-intercepting proxies"
    assert default_ca_bundle(tmp_path / "missing.crt") == "", "no store on this host: nothing extra"


def test_extra_ca_bundle_config_wins_and_empty_means_none(tmp_path):
    given = Settings.from_config(Config({"stack": "s", "extraCaBundle": "/etc/corp-ca.pem"}))
    none = Settings.from_config(Config({"stack": "s", "extraCaBundle": ""}))
    unset = Settings.from_config(Config({"stack": "s"}))

    assert given.extra_ca_bundle == "/etc/corp-ca.pem"
    assert none.extra_ca_bundle == ""
    assert unset.extra_ca_bundle == default_ca_bundle()
