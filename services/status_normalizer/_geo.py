"""Country / state / site tables from ``mappings/geo.yaml`` (loaded by mapping.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backbone.errors import ConfigError

from .records import Location

__all__ = ["Geo", "Site", "load_geo"]

_ALPHA2 = re.compile(r"[A-Z]{2}")
_ALPHA3 = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True, slots=True)
class Site:
    """A warehouse a partner names without an address."""

    city: str | None
    state: str | None
    country: str | None
    name: str | None

    def location(self, description: str) -> Location:
        return Location(city=self.city, state=self.state, country=self.country, description=self.name or description)


@dataclass(frozen=True, slots=True)
class Geo:
    country_zone: Mapping[str, ZoneInfo | None]  # alpha-2 -> zone (None: several zones)
    alpha3: Mapping[str, str]  # alpha-3 -> alpha-2
    state_zone: Mapping[str, Mapping[str, ZoneInfo]]  # alpha-2 -> state code -> zone
    sites: Mapping[str, Site]

    def alpha2(self, country: str | None) -> str | None:
        """ISO alpha-2 for an alpha-2 or alpha-3 code; other spellings are returned unchanged."""
        if country is None:
            return None
        code = country.strip().upper()
        if _ALPHA2.fullmatch(code):
            return code
        return self.alpha3.get(code, country.strip() or None)

    def zone_for(self, country: str | None, state: str | None) -> ZoneInfo | None:
        code = self.alpha2(country)
        if code is None:
            return None
        if state:
            zone = self.state_zone.get(code, {}).get(state.strip().upper())
            if zone is not None:
                return zone
        return self.country_zone.get(code)


def _fail(path: Path, key: str, message: str) -> ConfigError:
    return ConfigError(f"{path.name}: {key}: {message}", file=str(path), key=key)


def _zone(path: Path, key: str, name: object) -> ZoneInfo:
    if not isinstance(name, str):
        raise _fail(path, key, "expected an IANA zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise _fail(path, key, f"unknown time zone {name!r}") from exc


def _opt_str(path: Path, key: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _fail(path, key, "expected a string")
    return value


def load_geo(path: Path, doc: Mapping[str, Any]) -> Geo:
    countries, states, sites = doc.get("countries"), doc.get("states", {}), doc.get("sites", {})
    if not isinstance(countries, dict) or not isinstance(states, dict) or not isinstance(sites, dict):
        raise _fail(path, "<root>", "countries, states and sites must be mappings")
    country_zone: dict[str, ZoneInfo | None] = {}
    alpha3: dict[str, str] = {}
    for code, entry in countries.items():
        key = f"countries.{code}"
        if not isinstance(code, str) or not _ALPHA2.fullmatch(code) or not isinstance(entry, dict):
            raise _fail(path, key, "expected an alpha-2 code -> {iso3, zone}")
        iso3 = entry.get("iso3")
        if not isinstance(iso3, str) or not _ALPHA3.fullmatch(iso3):
            raise _fail(path, f"{key}.iso3", "expected an ISO alpha-3 code")
        alpha3[iso3] = code
        zone = entry.get("zone")
        country_zone[code] = None if zone is None else _zone(path, f"{key}.zone", zone)
    state_zone: dict[str, dict[str, ZoneInfo]] = {}
    for code, table in states.items():
        if code not in country_zone or not isinstance(table, dict):
            raise _fail(path, f"states.{code}", "expected a known country -> {state: zone}")
        state_zone[code] = {str(s): _zone(path, f"states.{code}.{s}", z) for s, z in table.items()}
    parsed_sites: dict[str, Site] = {}
    for name, entry in sites.items():
        key = f"sites.{name}"
        if not isinstance(entry, dict) or set(entry) - {"city", "state", "country", "name"}:
            raise _fail(path, key, "expected {city, state, country, name}")
        country = _opt_str(path, f"{key}.country", entry.get("country"))
        if country is not None and country not in country_zone:
            raise _fail(path, f"{key}.country", f"{country!r} is not in countries")
        parsed_sites[str(name)] = Site(
            city=_opt_str(path, f"{key}.city", entry.get("city")),
            state=_opt_str(path, f"{key}.state", entry.get("state")),
            country=country,
            name=_opt_str(path, f"{key}.name", entry.get("name")),
        )
    return Geo(country_zone, alpha3, state_zone, parsed_sites)
