"""Row codec: column lists and rows to values, alike for both backends."""

from __future__ import annotations

from metadata.model import Bucket, ObjectVersion, Part, Upload, User
from metadata.row_codec import (
    bucket_of,
    dump_checksum,
    dump_map,
    load_checksum,
    load_map,
    part_of,
    same_etag,
    upload_of,
    user_of,
    version_of,
)


def test_maps_and_checksums_round_trip_as_compact_json() -> None:
    assert dump_map({}) is None and load_map(None) == {}
    assert dump_map({"ä": "1"}) == '{"ä":"1"}'
    assert load_map(dump_map({"a": "b", "x-amz-meta-é": "ü"})) == {"a": "b", "x-amz-meta-é": "ü"}
    assert dump_checksum(None) is None and load_checksum(None) is None
    assert load_checksum(dump_checksum({"algorithm": "CRC32", "value": "AAAA"})) == {
        "algorithm": "CRC32", "value": "AAAA"}


def test_etags_compare_without_quotes() -> None:
    assert same_etag('"abc"', "abc") and not same_etag('"abc"', '"abd"')


def test_rows_become_values_with_integer_or_real_booleans() -> None:
    for true, false in ((1, 0), (True, False)):
        row = ("b", "k", "v1", 5, "etag", 1.5, b"m", "owner", '{"content-type":"x"}', None,
               '{"algorithm":"CRC32","value":"AAAA"}', "[5]", "STANDARD", false, true, 7, true)
        assert version_of(row) == ObjectVersion(
            bucket="b", key="k", version_id="v1", size=5, etag="etag", last_modified=1.5, manifest=b"m",
            owner="owner", headers={"content-type": "x"}, user_metadata={},
            checksum={"algorithm": "CRC32", "value": "AAAA"}, part_sizes=(5,), storage_class="STANDARD",
            is_delete_marker=False, null_version=True, is_latest=True)
        assert version_of(row).is_delete_marker is False and version_of(row).is_latest is True
    upload = upload_of(("u", "b", "k", 2.0, "o", None, '{"m":"1"}', "CRC32", "COMPOSITE", "STANDARD"))
    assert upload == Upload(upload_id="u", bucket="b", key="k", initiated=2.0, owner="o", headers={},
                            user_metadata={"m": "1"}, checksum_algorithm="CRC32", checksum_type="COMPOSITE",
                            storage_class="STANDARD")
    assert part_of(("u", 3, 10, "e", 4.0, b"m", None)) == Part(
        upload_id="u", part_number=3, size=10, etag="e", last_modified=4.0, manifest=b"m", checksum=None)
    assert user_of(("n", "AK", b"s", 1.0)) == User(name="n", access_key="AK", secret=b"s", created=1.0)
    assert bucket_of(("b", "o", 1.0, "r", "Enabled")) == Bucket(name="b", owner="o", created=1.0, region="r",
                                                                 versioning="Enabled")
