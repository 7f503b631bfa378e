#!/usr/bin/env python3
"""Independent reader for cairn repositories, format v1, written from SPEC.md alone.

    reader.py REPO snapshots
    reader.py REPO ls SNAPSHOT
    reader.py REPO cat SNAPSHOT PATH
    reader.py REPO restore SNAPSHOT TARGET

SNAPSHOT is a full id, a unique id prefix or `latest`. The password is taken from
$CAIRN_PASSWORD. Errors: one line on stderr; exit 2 for "unsupported", 1 otherwise.
Section numbers (§) refer to SPEC.md.
"""
import os
import re
import sys
from datetime import datetime, timedelta, timezone

import argon2.low_level as a2
import blake3
import nacl.bindings as nb
import nacl.exceptions
import zstandard

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
MAGIC = b"cairn\0"
KIND_CONFIG, KIND_KEY, KIND_INDEX, KIND_SNAPSHOT = 1, 2, 4, 5  # file header kinds (§3.1)
T_DATA, T_TREE, T_INDEX, T_SNAPSHOT, T_KEY = 1, 2, 4, 5, 6  # AAD object types (§5.2)
ZERO_ID = bytes(32)
MAX_CHUNK_LEN, MAX_TREE_LEN = 16 * MiB, 256 * MiB  # §3.2
MAX_BLOB_RAW = {T_DATA: MAX_CHUNK_LEN, T_TREE: MAX_TREE_LEN}
MAX_INDEX_LEN, MAX_SNAPSHOT_LEN = 256 * MiB, 16 * MiB
MAX_CONFIG_FILE, MAX_KEY_FILE = 102, 169 + 255 + 255  # §3.2 whole-file limits
HEX_NAME = re.compile(r"[0-9a-f]{64}\Z")  # §3.3: lower-case hex only
SUBKEY_PREFIX = "cairn 2026-11-23 v1 "  # §4.3


# Error classes of §14, plus "damaged" for a needed file or blob that is absent.
class ReaderError(Exception): kind = "error"
class FormatError(ReaderError): kind = "format error"
class AuthError(ReaderError): kind = "authentication error"
class Unsupported(ReaderError): kind = "unsupported (written by a newer cairn, upgrade)"
class Damaged(ReaderError): kind = "repository damaged"


# ---------------------------------------------------------------- decoding (§2)
class Cursor:
    """Reads fields from untrusted bytes; every read is bounds-checked (§2.1, §3.2)."""

    def __init__(self, data, what):
        self.data, self.pos, self.what = data, 0, what

    def take(self, n, field="field"):
        if n > len(self.data) - self.pos:
            raise FormatError(f"{self.what}: {field} truncated")
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def uint(self, size, field="integer", signed=False):  # little-endian (§2.1)
        return int.from_bytes(self.take(size, field), "little", signed=signed)

    def i64(self, field="i64"):
        return self.uint(8, field, signed=True)

    def timestamp(self, field):  # §2.2
        secs, nanos = self.i64(field), self.uint(4, field)
        if nanos > 999_999_999:
            raise FormatError(f"{self.what}: {field}.nanos out of range")
        return secs, nanos

    def bytes16(self, maximum, field):  # §2.1: length checked before the bytes are taken
        n = self.uint(2, field)
        if n > maximum:
            raise FormatError(f"{self.what}: {field} length {n} out of range")
        return self.take(n, field)

    def string16(self, maximum, field):
        raw = self.bytes16(maximum, field)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"{self.what}: {field} is not UTF-8") from None

    def count(self, size, maximum, min_item, field):  # §2.1 count rule
        n = self.uint(size, field)
        if n > maximum:
            raise FormatError(f"{self.what}: {field} {n} out of range")
        if n * min_item > len(self.data) - self.pos:
            raise FormatError(f"{self.what}: {field} {n} truncated")
        return n

    def end(self):  # §3.2 rule 2: no trailing bytes
        if self.pos != len(self.data):
            raise FormatError(f"{self.what}: {len(self.data) - self.pos} trailing bytes")


def check_header(data, kind, what):
    """§3.1: magic and kind first (format error), then version (unsupported)."""
    if len(data) < 8 or data[:6] != MAGIC or data[6] != kind:
        raise FormatError(f"{what}: bad magic or wrong file kind")
    if data[7] != 1:
        raise Unsupported(f"{what}: file version {data[7]}")


def read_whole(path, limit, what):
    """§3.2: refuse a file longer than its kind allows before reading it."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > limit:
                raise FormatError(f"{what}: file too large")
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise Damaged(f"{what}: missing") from None
    if len(data) > limit:
        raise FormatError(f"{what}: file too large")
    return data


def list_ids(repo, sub):
    """§3.3: ids of `sub/<hex>` files; every other name is ignored."""
    try:
        entries = list(os.scandir(os.path.join(repo, sub)))
    except FileNotFoundError:
        return []
    return sorted(e.name for e in entries if HEX_NAME.match(e.name) and e.is_file())


# ------------------------------------------------------ encryption (§5)
def aad(obj_type, repo_id, obj_id, prefix=b""):  # §5.2
    return b"cairn" + bytes([1, obj_type]) + repo_id + obj_id + prefix


def open_box(key, ad, box, what):  # §5.1
    if len(box) < 40:
        raise AuthError(f"{what}: sealed box too short")
    try:
        return nb.crypto_aead_xchacha20poly1305_ietf_decrypt(box[24:], ad, box[:24], key)
    except nacl.exceptions.CryptoError:
        raise AuthError(f"{what}: AEAD tag mismatch") from None


def decode_payload(pt, max_raw, what):
    """§5.3: codec, raw_len, body; zstd bodies are exactly one frame, output capped."""
    if len(pt) < 5:
        raise FormatError(f"{what}: payload truncated")
    codec, raw_len, body = pt[0], int.from_bytes(pt[1:5], "little"), pt[5:]
    if codec not in (0, 1):
        raise Unsupported(f"{what}: payload codec {codec}")
    if raw_len > max_raw:
        raise FormatError(f"{what}: payload raw_len {raw_len} out of range")
    if codec == 0:
        if len(body) != raw_len:
            raise FormatError(f"{what}: stored body length != raw_len")
        return body
    # python-zstandard trusts a declared content size over max_output_size, so reject a
    # declared size other than raw_len first (allowed by §5.3), then decompress with the
    # output capped (max_output_size=0 would mean "no limit", hence max(raw_len, 1));
    if not body.startswith(b"\x28\xb5\x2f\xfd"):  # §5.3: one real frame, not a skippable one
        raise FormatError(f"{what}: body is not a zstd frame")
    # allow_extra_data=False rejects a second frame or trailing bytes (its default accepts them).
    try:
        declared = zstandard.frame_content_size(body)
        if declared not in (-1, raw_len):
            raise FormatError(f"{what}: zstd frame declares {declared} bytes, raw_len {raw_len}")
        out = zstandard.ZstdDecompressor().decompress(
            body, max_output_size=max(raw_len, 1), allow_extra_data=False)
    except (zstandard.ZstdError, TypeError, ValueError) as e:
        raise FormatError(f"{what}: bad zstd body ({e})") from None
    if len(out) != raw_len:
        raise FormatError(f"{what}: zstd output length != raw_len")
    return out


# ---------------------------------------------------------- the repository
class Repo:
    def __init__(self, root, password):
        self.root = root
        self._open(password)
        self.index = None  # (blob_type, id) -> (pack id, offset, sealed_len, raw_len)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    # §11 step 1 -------------------------------------------------------------
    def _open(self, password):
        if not os.path.exists(self.path("config")):
            raise Damaged("no config: not a cairn repository")
        self.config = cfg = read_whole(self.path("config"), MAX_CONFIG_FILE, "config")
        self._decode_config(cfg)
        master, reasons, decoded, other_repo = None, [], 0, 0
        code = parse_recovery_code(password)
        for kid in list_ids(self.root, "keys"):
            what = f"key slot {kid[:8]}"
            try:
                raw = read_whole(self.path("keys", kid), MAX_KEY_FILE, what)
                if blake3.blake3(raw).hexdigest() != kid:  # §3.3: skip on mismatch
                    raise AuthError(f"{what}: BLAKE3 does not match its name")
                slot = decode_key_slot(raw, what)
            except ReaderError as e:
                reasons.append(e)
                continue
            if slot["repo_id"] != self.repo_id:
                other_repo += 1
                continue
            decoded += 1
            if slot["kdf"] == 2:  # §4.2: a recovery code, tried only if the text parses as one
                if code is None:
                    continue
                kek = blake3.blake3(code + slot["salt"],
                                    derive_key_context="cairn 2026-11-23 v1 recovery code").digest()
            else:
                kek = a2.hash_secret_raw(password, slot["salt"], time_cost=slot["time"],
                                         memory_cost=slot["memory"], parallelism=slot["lanes"],
                                         hash_len=32, type=a2.Type.ID, version=19)
            try:
                master = open_box(kek, aad(T_KEY, self.repo_id, ZERO_ID, slot["prefix"]),
                                  slot["wrapped"], what)
                break
            except AuthError:
                continue  # this password does not open this slot
        if master is None:
            if decoded:
                raise ReaderError("wrong password")
            if other_repo:
                raise Damaged("key slots name another repository id: config repo_id damaged")
            if reasons:
                raise reasons[0]
            raise Damaged("no key slot")
        # §4.3 subkeys
        sub = lambda p: blake3.blake3(master, derive_key_context=SUBKEY_PREFIX + p).digest()
        self.k_blob, self.k_meta = sub("blob encryption"), sub("metadata encryption")
        self.k_chunk_id, k_mac = sub("chunk id"), sub("config mac")
        # §11 step 1.4: config MAC over bytes 0..70
        if blake3.blake3(cfg[:70], key=k_mac).digest() != cfg[70:102]:
            raise AuthError("config: MAC mismatch (the config was altered)")

    def _decode_config(self, data):
        """§4.1, in cairn's decoding order; range and relation checks at the end."""
        check_header(data, KIND_CONFIG, "config")
        c = Cursor(data, "config")
        c.take(8)
        self.repo_id = c.take(32, "repo_id")
        if c.uint(1, "chunker.algorithm") != 1:
            raise Unsupported("config: chunker algorithm")
        lo, avg, hi = (c.uint(4, "chunker") for _ in range(3))
        level, data_pack, tree_pack = c.uint(1, "level"), c.uint(4, "pack"), c.uint(4, "pack")
        c.i64("created")
        c.take(32, "mac")
        c.end()
        for v, a, b in ((lo, 64, MiB), (avg, 256, 4 * MiB), (hi, 1024, 16 * MiB), (level, 0, 22),
                        (data_pack, 64 * KiB, 512 * MiB), (tree_pack, 64 * KiB, 512 * MiB)):
            if not a <= v <= b:
                raise FormatError(f"config: value {v} out of range")
        if lo % 2 or hi % 2 or avg & (avg - 1) or not lo < avg < hi:
            raise FormatError("config: invalid chunker parameters")

    # §11 step 2: whole-file objects ---------------------------------------------
    def read_object(self, sub, hexid, kind, obj_type, max_raw, what):
        data = read_whole(self.path(sub, hexid), 8 + 45 + max_raw, what)
        if blake3.blake3(data).hexdigest() != hexid:
            raise AuthError(f"{what}: BLAKE3 does not match its name")
        check_header(data, kind, what)
        pt = open_box(self.k_meta, aad(obj_type, self.repo_id, ZERO_ID, data[:8]), data[8:], what)
        return decode_payload(pt, max_raw, what)

    def snapshot(self, hexid):
        what = f"snapshot {hexid[:8]}"
        body = self.read_object("snapshots", hexid, KIND_SNAPSHOT, T_SNAPSHOT,
                                MAX_SNAPSHOT_LEN, what)
        return decode_snapshot(body, what) | {"id": hexid}

    def snapshots(self, errors=None):
        """§11 step 3: sorted by (time, id bytes). With an `errors` list, a damaged
        snapshot is collected there instead of hiding the others."""
        snaps = []
        for h in list_ids(self.root, "snapshots"):
            try:
                snaps.append(self.snapshot(h))
            except ReaderError as e:
                if errors is None:
                    raise
                errors.append(e)
        return sorted(snaps, key=lambda s: (s["time"], bytes.fromhex(s["id"])))

    def find_snapshot(self, ref):
        if HEX_NAME.match(ref):
            return self.snapshot(ref)
        snaps = self.snapshots()
        if ref == "latest" and snaps:
            return snaps[-1]
        found = [s for s in snaps if s["id"].startswith(ref.lower())] if ref else []
        if len(found) != 1:
            raise ReaderError(f"snapshot {ref!r}: {'ambiguous' if found else 'not found'}")
        return found[0]

    # §11 step 4 / §8.2 -----------------------------------------------------------
    def load_index(self):
        files, superseded = {}, set()
        for h in list_ids(self.root, "index"):
            what = f"index {h[:8]}"
            body = self.read_object("index", h, KIND_INDEX, T_INDEX, MAX_INDEX_LEN, what)
            files[h] = decode_index(body, what)
            superseded.update(files[h][0])
        self.index = {}
        for h, (_, packs) in files.items():
            if h in superseded:
                continue
            for pack_id, entries in packs:
                for t, blob_id, off, sealed, raw in entries:
                    self.index.setdefault((t, blob_id), (pack_id, off, sealed, raw))

    # §11 step 5 / §7.4 -----------------------------------------------------------
    def blob(self, blob_type, blob_id):
        if self.index is None:
            self.load_index()
        what = f"{'data' if blob_type == T_DATA else 'tree'} blob {blob_id.hex()[:8]}"
        loc = self.index.get((blob_type, blob_id))
        if loc is None:
            raise Damaged(f"{what}: not in the index")
        pack_id, off, sealed_len, raw_len = loc
        pack = pack_id.hex()
        try:
            with open(self.path("data", pack[:2], pack), "rb") as f:
                f.seek(off)
                box = f.read(sealed_len)
        except FileNotFoundError:
            raise Damaged(f"{what}: pack {pack[:8]} missing") from None
        if len(box) != sealed_len:
            raise FormatError(f"{what}: pack {pack[:8]} truncated")
        pt = open_box(self.k_blob, aad(blob_type, self.repo_id, blob_id), box, what)
        plain = decode_payload(pt, MAX_BLOB_RAW[blob_type], what)
        # §5.4: verify the keyed id before the plaintext is used
        if blake3.blake3(plain, key=self.k_chunk_id).digest() != blob_id:
            raise AuthError(f"{what}: keyed hash does not match its id")
        if len(plain) != raw_len:  # optional cross-check with the index entry (§5.4, MAY)
            raise FormatError(f"{what}: length differs from the index entry")
        return plain

    def tree(self, tree_id):
        return decode_tree(self.blob(T_TREE, tree_id), f"tree {tree_id.hex()[:8]}")

    def file_chunks(self, node):
        """§11 step 7: the file's content, chunk by chunk, each length-checked."""
        for chunk_id, raw_len in node["chunks"]:
            data = self.blob(T_DATA, chunk_id)
            if len(data) != raw_len:
                raise FormatError(f"data blob {chunk_id.hex()[:8]}: length != chunk ref raw_len")
            yield data


# ------------------------------------------------------------- key slot (§4.2)
def decode_key_slot(data, what):
    check_header(data, KIND_KEY, what)
    c = Cursor(data, what)
    c.take(8)
    slot = {"repo_id": c.take(32, "repo_id")}
    kdf = c.uint(1, "kdf")
    if kdf not in (1, 2):
        raise Unsupported(f"{what}: kdf")
    memory, time, lanes = c.uint(4, "memory_kib"), c.uint(4, "time_cost"), c.uint(4, "lanes")
    slot["kdf"] = kdf
    if kdf == 2:  # recovery code: the parameters are zero
        if (memory, time, lanes) != (0, 0, 0):
            raise FormatError(f"{what}: recovery-code slot with KDF parameters")
    # bounds checked in the SPEC's order (lanes, memory, time) before Argon2id runs
    elif not 1 <= lanes <= 64:
        raise FormatError(f"{what}: kdf.lanes out of range")
    elif not max(8, 8 * lanes) <= memory <= 2 * MiB:  # 2 097 152 KiB
        raise FormatError(f"{what}: kdf.memory_kib out of range")
    elif not 1 <= time <= 64:
        raise FormatError(f"{what}: kdf.time_cost out of range")
    slot |= {"memory": memory, "time": time, "lanes": lanes, "salt": c.take(32, "salt")}
    c.i64("created")
    c.string16(255, "hostname")
    c.string16(255, "username")
    slot["prefix"] = data[:c.pos]
    slot["wrapped"] = c.take(72, "wrapped_key")
    c.end()
    return slot


def parse_recovery_code(text):
    """§4.2.1: the 32 secret bytes of a typed recovery code, or None if it is not one."""
    try:
        text = text.decode("ascii")
    except UnicodeDecodeError:
        return None
    chars = [c for c in text.upper() if not c.isspace() and c != "-"]
    chars = ["O" if c == "0" else "I" if c == "1" else "B" if c == "8" else c for c in chars]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    if len(chars) != 55 or any(c not in alphabet for c in chars):
        return None
    value = 0
    for c in chars:
        value = (value << 5) | alphabet.index(c)
    if value & 0b111:  # 275 bits: 272 of data, then 3 zero bits
        return None
    data = (value >> 3).to_bytes(34, "big")
    secret, check = data[:32], data[32:]
    expected = blake3.blake3(secret, derive_key_context="cairn 2026-11-23 v1 recovery code checksum").digest()[:2]
    return secret if check == expected else None


# ---------------------------------------------------------------- index (§8.1)
def decode_index(body, what):
    c = Cursor(body, what)
    supersedes = [c.take(32).hex() for _ in range(c.count(4, 1 << 16, 32, "supersedes_count"))]
    packs = []
    for _ in range(c.count(4, 1 << 20, 40, "pack_count")):
        pack_id, pack_len = c.take(32, "pack.id"), c.uint(4, "pack.len")
        if not 155 <= pack_len <= GiB:
            raise FormatError(f"{what}: pack.len out of range")
        n = c.count(4, 1 << 20, 45, "pack.blob_count")
        if n == 0:
            raise FormatError(f"{what}: pack record with no blobs")
        entries, end = [], 8
        for _ in range(n):
            t, blob_id, off, sealed, raw = decode_entry(c, what)
            if off < end or off + sealed > pack_len or (entries and t != entries[0][0]):
                raise FormatError(f"{what}: pack entries overlap, out of order or mixed types")
            entries.append((t, blob_id, off, sealed, raw))
            end = off + sealed
        packs.append((pack_id, entries))
    c.end()
    return supersedes, packs


def decode_entry(c, what):
    """§7.2: one 45-byte pack/index entry."""
    t = c.uint(1, "blob_type")
    if t not in (T_DATA, T_TREE):
        raise Unsupported(f"{what}: blob type {t}")
    blob_id, off, sealed, raw = c.take(32), c.uint(4), c.uint(4), c.uint(4)
    if not 45 <= sealed <= GiB or raw > MAX_BLOB_RAW[t]:
        raise FormatError(f"{what}: entry sealed_len or raw_len out of range")
    return t, blob_id, off, sealed, raw


# -------------------------------------------------------------- snapshot (§10)
def decode_snapshot(body, what):
    c = Cursor(body, what)
    s = {"time": c.timestamp("time"), "tree": c.take(32, "tree")}
    has_parent = c.uint(1, "has_parent")
    if has_parent not in (0, 1):
        raise FormatError(f"{what}: has_parent {has_parent}")
    s["parent"] = c.take(32, "parent") if has_parent else None
    s["hostname"] = c.string16(4096, "hostname")
    s["username"] = c.string16(4096, "username")
    s["paths"] = [c.bytes16(4096, "path") for _ in range(c.count(2, 4096, 2, "path_count"))]
    s["tags"] = [c.string16(4096, "tag") for _ in range(c.count(2, 4096, 2, "tag_count"))]
    s["program"] = c.string16(4096, "program")
    c.timestamp("summary.started")
    c.timestamp("summary.finished")
    n = c.count(2, 1024, 8, "summary.count")
    if n < 14:
        raise FormatError(f"{what}: summary count {n} < 14")
    s["counters"] = [c.uint(8) for _ in range(n)][:14]  # extra counters are skipped (§10.2)
    meta = [(c.string16(4096, "meta.key"), c.string16(65535, "meta.value"))
            for _ in range(c.count(2, 4096, 4, "meta_count"))]
    c.end()
    for keys, field in ((s["tags"], "tags"), ([k for k, _ in meta], "meta keys")):
        raw = [k.encode() for k in keys]
        if any(a >= b for a, b in zip(raw, raw[1:])):
            raise FormatError(f"{what}: {field} not sorted and unique")
    s["meta"] = dict(meta)
    return s


# ------------------------------------------------------------------ tree (§9)
def decode_tree(data, what):
    c = Cursor(data, what)
    nodes, prev = [], None
    for _ in range(c.count(4, 1 << 22, 64, "node_count")):
        name = c.bytes16(4096, "name")
        # §9.3: name rules and strictly increasing bytewise order
        if name in (b"", b".", b"..") or b"/" in name or b"\0" in name:
            raise FormatError(f"{what}: invalid node name {name!r}")
        if prev is not None and name <= prev:
            raise FormatError(f"{what}: node names not strictly increasing")
        prev = name
        kind = c.uint(1, "kind")
        if kind not in (1, 2, 3):  # nodes cannot be skipped: the whole tree is unsupported
            raise Unsupported(f"{what}: node kind {kind}")
        n = {"name": name, "kind": kind, "mode": c.uint(4, "mode"), "uid": c.uint(4, "uid"),
             "gid": c.uint(4, "gid"), "mtime": c.timestamp("mtime"), "ctime": c.timestamp("ctime"),
             "device": c.uint(8, "device"), "inode": c.uint(8, "inode"), "size": c.uint(8, "size")}
        if n["mode"] > 0o7777:
            raise FormatError(f"{what}: mode out of range")
        if kind == 1:  # file: chunk refs
            n["chunks"] = []
            for _ in range(c.count(4, 1 << 26, 36, "chunk_count")):
                ref = (c.take(32, "chunk id"), c.uint(4, "chunk raw_len"))
                if not 1 <= ref[1] <= MAX_CHUNK_LEN:
                    raise FormatError(f"{what}: chunk raw_len out of range")
                n["chunks"].append(ref)
            ok = n["size"] == sum(r for _, r in n["chunks"])
        elif kind == 2:  # directory: subtree id
            n["subtree"] = c.take(32, "subtree")
            ok = n["size"] == 0
        else:  # symlink: target
            n["target"] = c.bytes16(4096, "target")
            ok = n["target"] != b"" and b"\0" not in n["target"] and n["size"] == len(n["target"])
        if not ok:
            raise FormatError(f"{what}: node {name!r}: invalid size or symlink target")
        nodes.append(n)
    c.end()
    return nodes


# ------------------------------------------------------------------ commands
def walk(repo, tree_id, prefix=b""):
    """Depth-first, in stored order: yields (snapshot path, node)."""
    for node in repo.tree(tree_id):
        path = prefix + b"/" + node["name"]
        yield path, node
        if node["kind"] == 2:
            yield from walk(repo, node["subtree"], path)


def lookup(repo, tree_id, path):
    """The node at a snapshot path such as b"/src/dir/file"."""
    node = {"kind": 2, "subtree": tree_id}  # the root tree, which has no node of its own
    for part in (p for p in path.split(b"/") if p):
        if node["kind"] != 2:
            raise ReaderError(f"{os.fsdecode(path)}: not in the snapshot")
        node = next((n for n in repo.tree(node["subtree"]) if n["name"] == part), {"kind": 0})
    if node["kind"] == 0:
        raise ReaderError(f"{os.fsdecode(path)}: not in the snapshot")
    return node


def fmt_time(ts):
    secs, nanos = ts
    try:
        t = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=secs)
        return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"
    except OverflowError:
        return f"@{secs}.{nanos:09d}"


def restore_node(repo, node, dest):
    """§11 step 7 and §9.2: owner (root only), then mtime, then mode; dirs after contents."""
    kind, as_root = node["kind"], os.geteuid() == 0
    mtime_ns = node["mtime"][0] * 10**9 + node["mtime"][1]
    if os.path.lexists(dest):
        raise ReaderError(f"{os.fsdecode(dest)}: already exists")
    if kind == 3:  # symlink: neither mode nor mtime are applied
        os.symlink(node["target"], dest)
        if as_root:
            os.lchown(dest, node["uid"], node["gid"])
        return
    if kind == 2:
        os.mkdir(dest, 0o700)
        for child in repo.tree(node["subtree"]):
            restore_node(repo, child, os.path.join(dest, child["name"]))
        final = dest
    else:
        final = dest  # written under a temporary name, renamed into place when complete
        dest = os.path.join(os.path.dirname(dest), b".cairn-restore." + node["name"][:200])
        with open(dest, "xb") as f:
            for data in repo.file_chunks(node):
                f.write(data)
            if f.tell() != node["size"]:
                raise FormatError(f"{os.fsdecode(final)}: restored length != node size")
    if as_root:
        os.chown(dest, node["uid"], node["gid"])
    os.utime(dest, ns=(os.stat(dest).st_atime_ns, mtime_ns))  # atime is not stored: keep it
    os.chmod(dest, node["mode"])
    if dest != final:
        os.rename(dest, final)


def main(argv):
    if len(argv) < 3 or argv[2] not in ("snapshots", "ls", "cat", "restore"):
        print(__doc__.strip(), file=sys.stderr)
        return 1
    password = os.environb.get(b"CAIRN_PASSWORD")
    if password is None:
        raise ReaderError("set CAIRN_PASSWORD")
    repo, cmd, args = Repo(argv[1], password), argv[2], argv[3:]
    out = sys.stdout.buffer
    need = {"snapshots": 0, "ls": 1, "cat": 2, "restore": 2}[cmd]
    if len(args) != need:
        raise ReaderError(f"{cmd}: expected {need} argument(s)")
    if cmd == "snapshots":
        errors = []
        for s in repo.snapshots(errors):
            tags = ",".join(s["tags"]) or "-"
            line = f"{s['id']} {fmt_time(s['time'])} {s['hostname']} {tags}".encode()
            out.write(b" ".join([line] + s["paths"]) + b"\n")
        out.flush()
        return min([report(e) for e in errors], default=0)  # 2 only if all are unsupported
    snap = repo.find_snapshot(args[0])
    if cmd == "ls":
        for path, _ in walk(repo, snap["tree"]):
            out.write(path + b"\n")
    elif cmd == "cat":
        node = lookup(repo, snap["tree"], os.fsencode(args[1]))
        if node["kind"] != 1:
            raise ReaderError(f"{args[1]}: not a regular file")
        for data in repo.file_chunks(node):
            out.write(data)
    else:
        target = os.fsencode(args[1])
        os.makedirs(target, exist_ok=True)
        for node in repo.tree(snap["tree"]):
            restore_node(repo, node, os.path.join(target, node["name"]))
    out.flush()
    return 0


def report(e):
    """One line on stderr; returns the exit code (2 = unsupported, else 1)."""
    msg = f"{e.kind}: {e}" if type(e) is not ReaderError else str(e)
    print(f"reader.py: {msg}", file=sys.stderr)
    return 2 if isinstance(e, Unsupported) else 1


if __name__ == "__main__":
    sys.setrecursionlimit(20_000)  # walk/restore recurse once per directory level
    try:
        sys.exit(main(sys.argv))
    except ReaderError as e:
        sys.exit(report(e))
    except RecursionError:  # SPEC sets no depth limit; refuse rather than crash
        sys.exit(report(ReaderError("directory tree too deep for this reader")))
    except OSError as e:
        print(f"reader.py: {e}", file=sys.stderr)
        sys.exit(1)
