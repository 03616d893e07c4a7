"""MariaDB error messages that name safe migrations.

MariaDB has no hook that could refuse DDL with words of our choosing: safe migrations withholds
the DDL privileges (:mod:`.mysql_accounts`), and the server refuses with its own privilege errors
(``1142 ALTER command denied ...``). What the server does let us choose is the message catalogue
(``errmsg.sys``) of each language, read from ``lc-messages-dir``, and which language a server
speaks (``lc_messages``, changeable while it runs; sessions take the global value when they log
in). So every server gets a private messages folder that links every stock language except one,
``slovak``, whose catalogue is replaced by the English one with the privilege refusals extended
by :data:`~moonbase.engines.base.SAFE_MIGRATIONS_MESSAGE`. A branch with safe migrations on
speaks ``sk_SK`` (:data:`SAFE_MIGRATIONS_LOCALE`), every other server ``en_US``, so the refusal
names safe migrations while it is on and is MariaDB's plain one when it is off.

Why Slovak: a language only counts if a locale leads to it (none leads to ``bulgarian`` or
``norwegian-ny``, whose folders MariaDB ships anyway); of those that do, Slovak is reached by
``sk_SK`` alone and is among the least translated (about 130 of 1,200+ messages), so a client
that asks for ``sk_SK`` itself gets English and loses little. A server loads a language's
catalogue once, when it is first used, so such a client keeps seeing the safe migrations words
after they are turned off, until the server restarts.

The catalogue format (MariaDB 10.5 and later, format 5): a 32-byte header (magic ``FE FE 02 05``,
the text size as a little-endian u32 at offset 6, the message count as a u16 at offset 12, the
section count as a u16 at offset 14), one u16 per section (messages in it; sections are the
error-code thousands 1000, 2000, 3000, 4000), one u16 per message (its byte length including the
terminating NUL), then the NUL-terminated texts in order.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path

from moonbase.engines.base import SAFE_MIGRATIONS_MESSAGE, EngineError, RunAs
from moonbase.engines.process import make_dir, write_file

log = logging.getLogger(__name__)

SAFE_MIGRATIONS_LOCALE = "sk_SK"
NORMAL_LOCALE = "en_US"
_LANGUAGE = "slovak"  # the message language of sk_SK
_CATALOGUE = "errmsg.sys"
_MAGIC = bytes((254, 254, 2, 5))
_HEADER = 32
_FIRST_CODE = 1000
_PER_SECTION = 1000
#: the privilege refusals DDL meets once safe migrations withholds its privileges: database
#: level (1044: CREATE/ALTER/DROP PROCEDURE, EVENT), table (1142: CREATE, ALTER, DROP, INDEX,
#: TRIGGER, TRUNCATE as DROP), column (1143: REFERENCES) and routine (1370: ALTER ROUTINE)
REFUSALS = (1044, 1142, 1143, 1370)


@dataclass(frozen=True)
class Catalogue:
    header: bytes
    sections: tuple[int, ...]
    texts: tuple[bytes, ...]  # without their NUL

    @classmethod
    def parse(cls, data: bytes) -> Catalogue:
        if len(data) < _HEADER or data[:4] != _MAGIC:
            raise EngineError("not a MariaDB message catalogue of format 5", permanent=True)
        (text_size,) = struct.unpack_from("<I", data, 6)
        count, section_count = struct.unpack_from("<HH", data, 12)
        sections = struct.unpack_from(f"<{section_count}H", data, _HEADER)
        lengths = struct.unpack_from(f"<{count}H", data, _HEADER + 2 * section_count)
        start = _HEADER + 2 * (section_count + count)
        body = data[start:]
        if sum(sections) != count or len(body) != text_size:
            raise EngineError("MariaDB message catalogue is inconsistent", permanent=True)
        # the texts are NUL-terminated; the last length is not needed to find them (MariaDB
        # itself never reads it, and its own files do not always fill it in)
        texts = tuple(body.split(b"\0")[:count])
        if len(texts) != count or [len(t) + 1 for t in texts[:-1]] != list(lengths[:-1]):
            raise EngineError("MariaDB message catalogue is inconsistent", permanent=True)
        return cls(header=data[:_HEADER], sections=tuple(sections), texts=texts)

    def index(self, code: int) -> int:
        section, offset = divmod(code - _FIRST_CODE, _PER_SECTION)
        if not 0 <= section < len(self.sections) or offset >= self.sections[section]:
            raise KeyError(code)
        return sum(self.sections[:section]) + offset

    def text(self, code: int) -> str:
        return self.texts[self.index(code)].decode("utf-8")

    def replace(self, changes: dict[int, str]) -> Catalogue:
        texts = list(self.texts)
        for code, text in changes.items():
            encoded = text.encode("utf-8")
            if b"\0" in encoded:
                raise ValueError("a message cannot hold NUL")
            texts[self.index(code)] = encoded
        return Catalogue(self.header, self.sections, tuple(texts))

    def serialise(self) -> bytes:
        body = b"".join(t + b"\0" for t in self.texts)
        header = bytearray(self.header)
        struct.pack_into("<I", header, 6, len(body))
        return b"".join(
            (
                bytes(header),
                struct.pack(f"<{len(self.sections)}H", *self.sections),
                struct.pack(f"<{len(self.texts)}H", *(len(t) + 1 for t in self.texts)),
                body,
            )
        )


def naming_safe_migrations(stock_english: bytes) -> bytes:
    """The English catalogue with every refusal of :data:`REFUSALS` naming safe migrations.
    The format directives stay as they are (MariaDB fills them in), only text is appended."""
    catalogue = Catalogue.parse(stock_english)
    return catalogue.replace(
        {code: f"{catalogue.text(code)} ({SAFE_MIGRATIONS_MESSAGE})" for code in REFUSALS}
    ).serialise()


def stock_folder(mariadbd: Path) -> Path | None:
    """The installation's messages folder (what ``lc-messages-dir`` defaults to): Debian keeps
    it in ``/usr/share/mysql``, MariaDB's own archives in ``<base>/share``."""
    base = mariadbd.resolve().parent.parent
    for candidate in (base / "share" / "mysql", base / "share" / "mariadb", base / "share"):
        if (candidate / "english" / _CATALOGUE).is_file():
            return candidate
    return None


def install(dest: Path, stock: Path, catalogue: bytes, run_as: RunAs | None) -> None:
    """Make ``dest`` a messages folder: every stock language linked, except ``slovak``,
    which holds ``catalogue``. Idempotent and cheap when nothing changed."""
    make_dir(dest, run_as, mode=0o755)
    for language in sorted(p.name for p in stock.iterdir() if (p / _CATALOGUE).is_file()):
        if language == _LANGUAGE:
            continue
        link = dest / language
        if not link.is_symlink():
            link.symlink_to(stock / language, target_is_directory=True)
    folder = dest / _LANGUAGE
    make_dir(folder, run_as, mode=0o755)
    target = folder / _CATALOGUE
    try:
        if target.read_bytes() == catalogue:
            return
    except FileNotFoundError:
        pass
    write_file(target, catalogue, run_as, mode=0o644)
    log.debug("wrote %s (%d bytes)", target, len(catalogue))


def locale_for(safe_migrations: bool) -> str:
    return SAFE_MIGRATIONS_LOCALE if safe_migrations else NORMAL_LOCALE
