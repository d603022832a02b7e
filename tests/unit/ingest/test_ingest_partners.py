"""partners.yaml validation and secret resolution (env, mounted files, demo flag)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backbone.errors import ConfigError
from services.ingest.partners import load_partners
from tests.unit.ingest._support import PARTNERS_FILE, SECRETS, make_config

REQUIRED = ("easypost", "aftership", "shippo", "shiphero", "shipbob", "generic-tms", "odoo")


def test_repo_config_defines_every_required_partner(tmp_path: Path) -> None:
    directory = load_partners(make_config(tmp_path, partners_file=PARTNERS_FILE))
    assert set(REQUIRED) <= set(directory.partners)
    assert directory.get("shipbob").scheme == "standard-webhooks"  # type: ignore[union-attr]
    assert directory.get("odoo").channel == "erp"  # type: ignore[union-attr]
    assert directory.get("fedex") is None


def test_secrets_never_appear_in_repr(tmp_path: Path) -> None:
    directory = load_partners(make_config(tmp_path))
    assert SECRETS["easypost"] not in repr(directory.get("easypost"))
    assert SECRETS["generic-tms"] not in repr(directory)


def test_env_secret_wins_and_rotation_lists_several(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBONE_PARTNER_GENERIC_TMS_SECRET", "env-key-000000000001\nenv-key-000000000002")
    directory = load_partners(make_config(tmp_path))
    assert directory.get("generic-tms").secrets == ("env-key-000000000001", "env-key-000000000002")  # type: ignore[union-attr]
    assert directory.by_api_key("env-key-000000000002").id == "generic-tms"  # type: ignore[union-attr]
    assert directory.by_api_key(SECRETS["generic-tms"]) is None


def test_missing_secret_names_the_variable(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    (tmp_path / "secrets" / "aftership").unlink()
    with pytest.raises(ConfigError, match="BACKBONE_PARTNER_AFTERSHIP_SECRET") as err:
        load_partners(cfg)
    assert "partners.aftership" in str(err.value)


def test_demo_secrets_only_behind_the_flag(tmp_path: Path) -> None:
    empty = tmp_path / "no-secrets"
    empty.mkdir()
    with pytest.raises(ConfigError, match="BACKBONE_INGEST_DEMO_SECRETS"):
        load_partners(make_config(tmp_path, partners_file=PARTNERS_FILE, secrets_dir=empty))
    directory = load_partners(make_config(tmp_path, partners_file=PARTNERS_FILE, secrets_dir=empty, demo_secrets=True))
    assert directory.get("shiphero").secrets == ("shiphero-sim-secret",)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("partners:\n  x:\n    channel: moon\n    format: a.b\n    signature: api-key\n", "partners.x.channel"),
        ("partners:\n  x:\n    channel: erp\n    format: a.b\n    signature: carrier-pigeon\n", "partners.x.signature"),
        ("partners:\n  x:\n    channel: erp\n    format: a.b\n    signature: api-key\n    colour: red\n", "colour"),
        ("partners:\n  Bad_Id:\n    channel: erp\n    format: a.b\n    signature: api-key\n", "partners.Bad_Id"),
        ("partners: [\n", "not valid YAML"),
    ],
)
def test_bad_partner_file_names_file_and_key(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message) as err:
        load_partners(make_config(tmp_path, partners_file=path))
    assert str(path) in str(err.value)


def test_disabled_partner_needs_no_secret(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "partners:\n  ghost:\n    channel: erp\n    format: a.b\n    signature: api-key\n    enabled: false\n"
    )
    assert load_partners(make_config(tmp_path, partners_file=path)).partners == {}


def test_weak_or_shared_secrets_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBONE_PARTNER_ODOO_SECRET", "short")
    with pytest.raises(ConfigError, match="at least 16"):
        load_partners(make_config(tmp_path))
    monkeypatch.setenv("BACKBONE_PARTNER_ODOO_SECRET", SECRETS["generic-tms"])
    with pytest.raises(ConfigError, match="share an API key"):
        load_partners(make_config(tmp_path))
    monkeypatch.delenv("BACKBONE_PARTNER_ODOO_SECRET")
    monkeypatch.setenv("BACKBONE_PARTNER_SHIPBOB_SECRET", "whsec_%%%")
    with pytest.raises(ConfigError, match=r"partners\.shipbob"):
        load_partners(make_config(tmp_path))
