#!/usr/bin/env python3
"""Checks that a restored tree holds what the source tree held; exits 1 naming the first difference.

Usage: benches/same_tree.py SOURCE RESTORED

Files must be byte-identical, except SQLite databases (files starting with the SQLite header):
cairn stores a database as its canonical dump and restores a rebuilt database, which has the
same content but not the same bytes. A restored database must pass PRAGMA integrity_check and
have the source's schema (every table, index, view and trigger), user_version, application_id,
page size and encoding, and every table's rows in rowid (or primary-key) order.
"""
import filecmp
import hashlib
import os
import sqlite3
import sys

SQLITE_HEADER = b"SQLite format 3\0"
SETTINGS = ("user_version", "application_id", "page_size", "encoding")


def is_database(path):
    with open(path, "rb") as f:
        return f.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def database_digest(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    verdict = con.execute("PRAGMA integrity_check").fetchone()[0]
    if verdict != "ok":
        raise SystemExit(f"{path}: integrity_check says {verdict}")
    h = hashlib.sha256()
    for setting in SETTINGS:
        h.update(repr((setting, con.execute(f"PRAGMA {setting}").fetchone()[0])).encode())
    for row in con.execute("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name"):
        h.update(repr(row).encode())
    tables = con.execute(
        "SELECT name, wr FROM pragma_table_list WHERE schema='main' AND type='table' "
        "AND name NOT LIKE 'sqlite_%' ORDER BY name"
    )
    for name, without_rowid in tables.fetchall():
        quoted = '"' + name.replace('"', '""') + '"'
        query = f"SELECT * FROM {quoted} ORDER BY 1" if without_rowid else f"SELECT rowid, * FROM {quoted} ORDER BY rowid"
        h.update(repr(("table", name)).encode())
        for row in con.execute(query):
            h.update(repr(row).encode())
    con.close()
    return h.hexdigest()


def relative_files(root):
    found = set()
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            found.add(os.path.relpath(os.path.join(dirpath, name), root))
    return found


def main():
    source, restored = sys.argv[1], sys.argv[2]
    expected, actual = relative_files(source), relative_files(restored)
    if expected != actual:
        missing, extra = sorted(expected - actual), sorted(actual - expected)
        raise SystemExit(f"different files: missing {missing[:5]}, extra {extra[:5]}")
    for rel in sorted(expected):
        a, b = os.path.join(source, rel), os.path.join(restored, rel)
        if is_database(a) and is_database(b):
            if database_digest(a) != database_digest(b):
                raise SystemExit(f"{rel}: the restored database's content differs")
        elif not filecmp.cmp(a, b, shallow=False):
            raise SystemExit(f"{rel}: the restored file differs")


if __name__ == "__main__":
    main()
