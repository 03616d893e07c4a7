"""What this installation offers: cluster sizes per kind and how each maps onto local limits.

PlanetScale's sizes name a share of a cloud machine. Locally every server shares one host, so a
size sets the server's memory and connection limits *in proportion* to the size's RAM:

* memory for the server's buffer cache (PostgreSQL ``shared_buffers``, MariaDB
  ``innodb_buffer_pool_size``) = RAM / 64, at least 8 MB (PS_10: 16 MB, PS_80: 128 MB);
* ``max_connections`` = 25 per GB of RAM, between 25 and 500 (PS_10: 25, PS_80: 200).

The table is documented in docs/cluster-sizes.md; change both together.
"""

from __future__ import annotations

from dataclasses import dataclass

GB = 1024**3


@dataclass(frozen=True)
class ClusterSize:
    name: str
    cpu: str
    ram: int
    kinds: tuple[str, ...]
    development: bool = False
    production: bool = True
    rate: float = 0.0
    replica_rate: float = 0.0
    sort_order: int = 0

    @property
    def display_name(self) -> str:
        return self.name.replace("_", "-")

    @property
    def memory_mb(self) -> int:
        return max(8, self.ram // (64 * 1024 * 1024))

    @property
    def max_connections(self) -> int:
        return max(25, min(500, int(25 * self.ram / GB)))


BOTH = ("mysql", "postgresql")

SIZES: tuple[ClusterSize, ...] = (
    ClusterSize("PS_DEV", "1/16", GB // 2, BOTH, development=True, production=False),
    ClusterSize("PS_5", "1/16", GB // 2, ("postgresql",)),
    ClusterSize("PS_10", "1/8", 1 * GB, BOTH),
    ClusterSize("PS_20", "1/4", 2 * GB, BOTH),
    ClusterSize("PS_40", "1/2", 4 * GB, BOTH),
    ClusterSize("PS_80", "1", 8 * GB, BOTH),
    ClusterSize("PS_160", "2", 16 * GB, BOTH),
    ClusterSize("PS_320", "4", 32 * GB, BOTH),
    ClusterSize("PS_400", "8", 32 * GB, BOTH),
    ClusterSize("PS_640", "8", 64 * GB, BOTH),
)
SIZES = tuple(ClusterSize(**{**s.__dict__, "sort_order": i}) for i, s in enumerate(SIZES))
_BY_NAME = {s.name: s for s in SIZES}


def sizes_for(kind: str) -> list[ClusterSize]:
    return [s for s in SIZES if kind in s.kinds]


def size(name: str, kind: str) -> ClusterSize | None:
    found = _BY_NAME.get(name.upper().replace("-", "_"))
    return found if found and kind in found.kinds else None


#: what a new database may be created with (development sizes are for branches)
def production_size(name: str, kind: str) -> ClusterSize | None:
    found = size(name, kind)
    return found if found and found.production else None


DEFAULT_STORAGE_BYTES = 10 * GB


@dataclass(frozen=True)
class Offer:
    """Engine versions this installation can run, newest first per kind (found at start)."""

    versions: dict[str, tuple[str, ...]]

    def kinds(self) -> list[str]:
        return [k for k, v in self.versions.items() if v]

    def default_version(self, kind: str) -> str | None:
        found = self.versions.get(kind, ())
        return found[0] if found else None
