"""JSON shapes shared by several resources (regions, actors), as PlanetScale renders them."""

from __future__ import annotations

import hashlib
from typing import Any

from moonbase.settings import Region, Settings


def region_id(slug: str) -> str:
    """Stable 12-character id for a configured region."""
    return hashlib.sha256(f"region:{slug}".encode()).hexdigest()[:12]


def region_json(region: Region, settings: Settings, public: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": region_id(region.slug),
        "type": "Region",
        "provider": "Moonbase",
        "enabled": True,
        "public_ip_addresses": [settings.advertise_host],
        "display_name": region.display_name,
        "location": region.location,
        "slug": region.slug,
    }
    if not public:
        body.update(
            current_default=region.slug == settings.regions[0].slug,
            mysql_supported=True,
            postgresql_supported=True,
        )
    return body


def find_region(settings: Settings, slug: str) -> Region | None:
    return next((r for r in settings.regions if r.slug == slug), None)


def actor_json(actor_id: str | None, actor_type: str = "ServiceToken") -> dict[str, Any] | None:
    if actor_id is None:
        return None
    return {
        "id": actor_id,
        "type": actor_type,
        "display_name": f"{actor_type} {actor_id}",
        "avatar_url": "",
    }
