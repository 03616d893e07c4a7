"""MariaDB message catalogues (errmsg.sys): parsing, rewriting and the messages folder, on
small catalogues built here and on the installation's own English one where there is one."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from moonbase.engines import mysql_messages as messages
from moonbase.engines.base import SAFE_MIGRATIONS_MESSAGE, EngineError


def catalogue_bytes(sections: tuple[int, ...], texts: list[bytes]) -> bytes:
    """A format-5 catalogue laid out as MariaDB's own tool lays it out."""
    body = b"".join(t + b"\0" for t in texts)
    header = bytearray(32)
    header[:4] = bytes((254, 254, 2, 5))
    struct.pack_into("<IHHH", header, 6, len(body), 4000, len(texts), len(sections))
    return (
        bytes(header)
        + struct.pack(f"<{len(sections)}H", *sections)
        + struct.pack(f"<{len(texts)}H", *(len(t) + 1 for t in texts))
        + body
    )


SMALL = catalogue_bytes(
    (3, 0, 1, 2), [b"zero", b"one %s", b"two", b"three thousand", b"four", b"four+1 %d"]
)


def test_codes_map_to_their_sections() -> None:
    cat = messages.Catalogue.parse(SMALL)
    assert cat.text(1000) == "zero"
    assert cat.text(1002) == "two"
    assert cat.text(3000) == "three thousand"
    assert cat.text(4001) == "four+1 %d"
    for missing in (1003, 2000, 3001, 4002, 999, 5000):
        with pytest.raises(KeyError):
            cat.index(missing)


def test_round_trip_and_replace() -> None:
    cat = messages.Catalogue.parse(SMALL)
    assert cat.serialise() == SMALL
    changed = messages.Catalogue.parse(cat.replace({1001: "one %s (longer, ünïcode)"}).serialise())
    assert changed.text(1001) == "one %s (longer, ünïcode)"
    assert [changed.text(c) for c in (1000, 1002, 3000, 4000, 4001)] == [
        "zero",
        "two",
        "three thousand",
        "four",
        "four+1 %d",
    ]
    with pytest.raises(ValueError, match="NUL"):
        cat.replace({1000: "a\0b"})


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xfe\xfe\x02\x04" + SMALL[4:],  # format 4
        SMALL[:-3],  # text cut short
        SMALL.replace(b"two\0", b"tw\0o"),  # lengths no longer match the texts
    ],
)
def test_damaged_catalogues_are_refused(data: bytes) -> None:
    with pytest.raises(EngineError):
        messages.Catalogue.parse(data)


def stock_english() -> bytes:
    found = messages.stock_folder(Path(shutil.which("mariadbd") or "/usr/sbin/mariadbd"))
    assert found is not None, "the test machine has MariaDB's messages (mariadb-server)"
    return (found / "english" / "errmsg.sys").read_bytes()


def test_the_installed_catalogue_gains_the_sentence_and_keeps_its_directives() -> None:
    english = stock_english()
    before = messages.Catalogue.parse(english)
    assert messages.Catalogue.parse(before.serialise()) == before
    after = messages.Catalogue.parse(messages.naming_safe_migrations(english))
    for code in messages.REFUSALS:
        assert after.text(code) == f"{before.text(code)} ({SAFE_MIGRATIONS_MESSAGE})"
        assert after.text(code).count("%") == before.text(code).count("%")
    assert after.text(1146) == before.text(1146)  # everything else as it was
    assert len(after.texts) == len(before.texts)


def test_messages_folder_links_the_stock_languages_and_holds_ours(tmp_path: Path) -> None:
    stock = tmp_path / "share"
    for language in ("english", "french", "slovak"):
        (stock / language).mkdir(parents=True)
        (stock / language / "errmsg.sys").write_bytes(SMALL)
    (stock / "charsets").mkdir()  # not a language
    dest = tmp_path / "server" / "messages"
    dest.parent.mkdir()
    ours = messages.Catalogue.parse(SMALL).replace({1000: "ours"}).serialise()
    messages.install(dest, stock, ours, None)
    messages.install(dest, stock, ours, None)  # idempotent
    assert sorted(p.name for p in dest.iterdir()) == ["english", "french", "slovak"]
    assert (dest / "french").resolve() == (stock / "french").resolve()
    assert not (dest / "slovak").is_symlink()
    assert (dest / "slovak" / "errmsg.sys").read_bytes() == ours
    assert (stock / "slovak" / "errmsg.sys").read_bytes() == SMALL  # the stock one untouched
    assert messages.locale_for(True) == "sk_SK" and messages.locale_for(False) == "en_US"
