"""The registry contract: every backend (SQLite, PostgreSQL: ``support.registries``) keeps the same
rows and gives the same answers. A method added to the registry gets its test here."""
from __future__ import annotations

import csv
import io
import json
import random

import pytest

from provenance import RegistryBackend, RegistryError, export_records, new_content_id, open_registry
from provenance._registry import PDQ_MAX_DISTANCE, PHASH_MAX_DISTANCE, SCHEMA_VERSION
from support.registries import stamp_row as _row


def test_backend_implements_the_protocol(registry):
    """Each backend has every method of RegistryBackend, at the current schema version, empty."""
    assert isinstance(registry, RegistryBackend)
    assert registry.schema_version() == SCHEMA_VERSION
    assert registry.is_empty() and registry.count() == 0 and registry.integrity_ok()
    assert registry.list() == [] and list(registry.iter_all()) == []


def test_add_get_and_lookups(registry):
    """Rows come back by content id, id prefix, sha256, source sha256 and perceptual hash distance."""
    a = _row(sha256="a" * 64, phash="ffff0000ffff0000", source_sha256="5" * 64)
    b = _row(sha256="b" * 64, phash="0000ffff0000ffff")
    registry.add(a)
    registry.add(b)
    assert registry.get(a.content_id) == a
    assert registry.get(a.content_id.upper()) == a
    assert registry.get("not an id") is None and registry.get(new_content_id()) is None
    assert registry.find_by_prefix(a.content_id[:6]) == [a]
    assert registry.find_by_prefix("zz") == [] and registry.find_by_prefix("") == []
    assert registry.find_by_prefix(a.content_id) == [a] and registry.find_by_prefix(a.content_id[:12].upper()) == [a]
    assert registry.find_by_sha256("b" * 64) == [b] and registry.find_by_sha256("B" * 64) == [b]
    assert registry.find_by_source_sha256("5" * 64) == [a] and registry.find_by_source_sha256("b" * 64) == []
    near = registry.find_by_phash("ffff0000ffff0001", max_distance=4)
    assert [(d, r.content_id) for d, r in near] == [(1, a.content_id)]
    assert registry.count() == 2 and not registry.is_empty() and registry.integrity_ok()


def test_prefix_lookup_at_the_edges_of_the_hex_range(registry):
    """An id prefix (provenanceWM carries 48 bits) names exactly the ids that start with it, at the
    edges of the hex range and of the signed 64-bit keys too."""
    ids = ["0000000000000000", "00000000000000ff", "0000000000010000", "ffffffffffff0000", "ffffffffffffffff",
           "fffffffffffe0000", "7f00000000000000", "7fffffffffffffff", "8000000000000000"]
    registry.add_many(_row(content_id=cid, sha256=f"{i:064x}") for i, cid in enumerate(ids))
    for prefix in ("", "0", "00000000000000", "000000000000", "ffffffffffff", "7f", "7fff", "8", "80", "81", "f"):
        got = sorted(r.content_id for r in registry.find_by_prefix(prefix))
        assert got == ([] if not prefix else sorted(c for c in ids if c.startswith(prefix))), prefix
    assert all(registry.get(cid).content_id == cid for cid in ids)


def test_duplicate_content_id_is_refused(registry):
    """A content id is recorded once; a second row with it is an error, not an overwrite."""
    r = _row()
    registry.add(r)
    with pytest.raises(RegistryError, match=r.content_id):
        registry.add(_row(r.content_id, sha256="c" * 64))
    assert registry.get(r.content_id).sha256 == "0" * 64 and registry.count() == 1


def test_add_many_is_all_or_none(registry):
    """A batch with one bad row (a content id already there) adds none of its rows, index included."""
    kept = _row(pdq="ab" * 32, pdq_quality=100)
    registry.add(kept)
    batch = [_row(pdq=f"{i:064x}", pdq_quality=100) for i in range(5)] + [_row(kept.content_id)]
    with pytest.raises(RegistryError, match="6 stamps"):
        registry.add_many(batch)
    assert registry.count() == 1 and registry.integrity_ok()
    assert registry.find_similar(pdq=[batch[0].pdq]) == []
    registry.add_many(batch[:5])  # the registry still takes them afterwards
    assert registry.count() == 6


def test_values_come_back_byte_for_byte(registry):
    """Paths and manifests with quotes, tabs, newlines, backslashes and non-ASCII text, and empty
    and missing values, are stored and read back unchanged."""
    odd = "C:\\out\\a\tb\nc 'q' \"dq\" ü 雪 \\N \x7f.png"
    r = _row(output_path=odd, source_path="", signer=None, width=None, height=None, phash=None,
             manifest_json=json.dumps({"title": odd, "n": [1, 2.5, None]}, ensure_ascii=False))
    registry.add(r)
    assert registry.get(r.content_id) == r
    assert list(registry.iter_all()) == [r]


def test_order_limit_and_count(registry):
    """``list`` is newest first (then by id), ``iter_all`` oldest first; ``limit`` caps ``list``."""
    rows = [_row(created_at=f"2026-11-{day:02d}T00:00:00.000+00:00") for day in (3, 1, 2, 2)]
    registry.add_many(rows)
    by_time = sorted(rows, key=lambda r: (r.created_at, r.content_id))
    assert [r.content_id for r in registry.iter_all()] == [r.content_id for r in by_time]
    newest = sorted(rows, key=lambda r: r.content_id)
    newest = sorted(newest, key=lambda r: r.created_at, reverse=True)
    assert [r.content_id for r in registry.list()] == [r.content_id for r in newest]
    assert [r.content_id for r in registry.list(limit=2)] == [r.content_id for r in newest[:2]]
    assert registry.count() == 4


def test_source_sha256_lookup_is_oldest_first(registry):
    """Several stamps of one source come back oldest first; other sources' do not."""
    src = "c" * 64
    late = _row(source_sha256=src, created_at="2026-11-02T00:00:00+00:00")
    early = _row(source_sha256=src, created_at="2026-11-01T00:00:00+00:00")
    registry.add_many([late, early, _row(source_sha256="d" * 64), _row()])
    assert registry.find_by_source_sha256(src.upper()) == [early, late]


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_export_formats(registry, fmt):
    """Every row is exported, with its manifest, in each format."""
    rows = [_row() for _ in range(3)]
    registry.add_many(rows)
    text = export_records(list(registry.iter_all()), fmt)
    ids = {r.content_id for r in rows}
    if fmt == "json":
        assert {d["content_id"] for d in json.loads(text)} == ids
    elif fmt == "jsonl":
        parsed = [json.loads(line) for line in text.splitlines()]
        assert {d["content_id"] for d in parsed} == ids and parsed[0]["manifest"] == {"title": "x"}
    else:
        assert {d["content_id"] for d in csv.DictReader(io.StringIO(text))} == ids


def _brute_force(rows, pdq_queries, phash, pdq_max=PDQ_MAX_DISTANCE, phash_max=PHASH_MAX_DISTANCE):
    """What find_similar must answer, by comparing the query with every row (a pHash left out of
    the match by a negative limit still has its distance reported; a PDQ left out has none)."""
    want = {}
    for r in rows:
        dq = vq = dp = None
        if r.pdq and pdq_queries and pdq_max >= 0 and (r.pdq_quality is None or r.pdq_quality >= 50):
            dq, vq = min(((int(r.pdq, 16) ^ int(q, 16)).bit_count(), i) for i, q in enumerate(pdq_queries))
        if r.phash and phash is not None:
            dp = (int(r.phash, 16) ^ int(phash, 16)).bit_count()
        if (dq is not None and dq <= pdq_max) or (dp is not None and dp <= phash_max):
            want[r.content_id] = (dq, vq, dp)
    return want


def _flip(value: int, bits: int, n: int, rng: random.Random) -> int:
    for b in rng.sample(range(bits), n):
        value ^= 1 << b
    return value


def test_find_similar_is_exact_within_the_thresholds(registry):
    """Every stamp within the PDQ and pHash thresholds is found with its distances and the query
    hash that matched, whichever chunks the differing bits fall in, and nothing farther: the index
    never changes the answer of a full scan."""
    rng = random.Random(3)
    rows = [_row(phash=f"{rng.getrandbits(64):016x}", pdq=f"{rng.getrandbits(256):064x}", pdq_quality=100)
            for _ in range(300)]
    registry.add_many(rows)
    for base in rows[:40]:
        d = rng.randint(0, PDQ_MAX_DISTANCE + 3)
        near = f"{_flip(int(base.pdq, 16), 256, d, rng):064x}"
        queries = [f"{rng.getrandbits(256):064x}" for _ in range(7)]
        queries.insert(rng.randint(0, 7), near)  # a flipped copy matches through one of its 8 hashes
        e = rng.randint(0, PHASH_MAX_DISTANCE + 2)
        ph = f"{_flip(int(base.phash, 16), 64, e, rng):016x}"
        got = registry.find_similar(pdq=queries, phash=ph)
        want = _brute_force(rows, queries, ph)
        assert {m.record.content_id: (m.pdq_distance, m.pdq_variant, m.phash_distance) for m in got} == want
        assert (base.content_id in want) == (d <= PDQ_MAX_DISTANCE or e <= PHASH_MAX_DISTANCE)
        assert [m.rank for m in got] == sorted(m.rank for m in got)


@pytest.mark.parametrize("pdq_max, phash_max", [(30, -1), (-1, 7), (40, -1), (-1, 12), (0, 0)],
                         ids=["wide-pdq", "wide-phash", "pdq-wider-than-any-probe", "phash-wider-than-any-probe",
                              "exact"])
def test_find_similar_with_other_limits(registry, pdq_max, phash_max):
    """Limits wider than the index's default (it probes wider then, or beyond PDQ 31 / pHash 7
    reads every hash), zero, and a hash left out (negative limit) still give the full scan's answer."""
    rng = random.Random(pdq_max * 100 + phash_max)
    rows = [_row(phash=f"{rng.getrandbits(64):016x}", pdq=f"{rng.getrandbits(256):064x}", pdq_quality=100)
            for _ in range(200)]
    registry.add_many(rows)
    for base in rows[:25]:
        q = f"{_flip(int(base.pdq, 16), 256, rng.randint(0, 44), rng):064x}"
        ph = f"{_flip(int(base.phash, 16), 64, rng.randint(0, 14), rng):016x}"
        got = registry.find_similar(pdq=[q], phash=ph, pdq_max=pdq_max, phash_max=phash_max)
        want = _brute_force(rows, [q], ph, pdq_max, phash_max)
        assert {m.record.content_id: (m.pdq_distance, m.pdq_variant, m.phash_distance) for m in got} == want


def test_low_quality_pdq_is_not_indexed(registry):
    """A PDQ hash below the quality floor (a flat image) never matches; its pHash still does."""
    flat = _row(pdq="00" * 32, pdq_quality=10, phash="0123456789abcdef")
    registry.add(flat)
    assert registry.find_similar(pdq=["00" * 32]) == []
    [m] = registry.find_similar(pdq=["00" * 32], phash="0123456789abcdef")
    assert m.record == flat and m.pdq_distance is None and m.phash_distance == 0


def test_set_pdq_indexes_an_old_stamp(registry):
    """A stamp recorded without PDQ matches by it once ``set_pdq`` (``registry reindex``) has run,
    by the new hash only; an unknown content id changes nothing."""
    r = _row(pdq=None, pdq_quality=None)
    registry.add(r)
    assert registry.find_similar(pdq=["f0" * 32]) == []
    registry.set_pdq(r.content_id, "f0" * 32, 100)
    [m] = registry.find_similar(pdq=["f0" * 32])
    assert m.record.content_id == r.content_id and m.record.pdq == "f0" * 32 and m.pdq_distance == 0
    registry.set_pdq(r.content_id, "0f" * 32, 100)
    assert [m.record.pdq for m in registry.find_similar(pdq=["0f" * 32])] == ["0f" * 32]
    assert registry.find_similar(pdq=["f0" * 32]) == []
    registry.set_pdq(new_content_id(), "f0" * 32, 100)
    assert registry.count() == 1 and registry.integrity_ok()


def test_reopening_keeps_everything(registry_location):
    """Rows written by one connection are there, index included, for the next open of the same location."""
    rows = [_row(pdq=f"{i:064x}", pdq_quality=100) for i in range(1, 4)]
    with open_registry(registry_location) as reg:
        reg.add_many(rows)
    with open_registry(registry_location) as reg:
        assert reg.count() == 3 and reg.schema_version() == SCHEMA_VERSION
        assert [m.record.content_id for m in reg.find_similar(pdq=[rows[1].pdq], pdq_max=0)] == [rows[1].content_id]


def test_backends_give_identical_answers(tmp_path, postgres_url):
    """The same rows in SQLite and PostgreSQL answer the same look-ups with equal lists: records,
    distances and order."""
    rng = random.Random(11)
    rows = []
    for i in range(150):
        base = rows[rng.randrange(len(rows))] if rows and i % 3 == 0 else None  # near-duplicates, so ties
        pdq = _flip(int(base.pdq, 16), 256, rng.randint(0, 8), rng) if base else rng.getrandbits(256)
        rows.append(_row(pdq=f"{pdq:064x}", pdq_quality=100, phash=f"{rng.getrandbits(64):016x}",
                         created_at=f"2026-11-{rng.randint(1, 3):02d}T00:00:00.000+00:00"))
    with open_registry(tmp_path / "r.sqlite") as lite, open_registry(postgres_url) as pg:
        for reg in (lite, pg):
            reg.add_many(rows)
        assert list(lite.iter_all()) == list(pg.iter_all()) and lite.list(limit=7) == pg.list(limit=7)
        for r in rows[:30]:
            q = [r.pdq, f"{rng.getrandbits(256):064x}"]
            assert lite.find_similar(pdq=q, phash=r.phash) == pg.find_similar(pdq=q, phash=r.phash)
            assert lite.find_by_phash(r.phash, max_distance=20) == pg.find_by_phash(r.phash, max_distance=20)
            assert lite.find_by_prefix(r.content_id[:2]) == pg.find_by_prefix(r.content_id[:2])
