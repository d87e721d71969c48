"""The object service: the S3 layer's storage side, over metadata and the data path.

Implements :class:`s3api.service.ObjectService`. Ownership is checked here
(one bucket lookup per request); the metadata commit is the single point at
which a write becomes visible (DESIGN invariant 1), and whatever a failed
write stored is sent to garbage.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

from erasure.errors import ErasureError
from erasure.random_pool import random_bytes
from metadata import errors as md_errors
from metadata.model import Bucket, ObjectVersion, Part, Upload
from metadata.store import MetadataStore
from objectd.data_path import DataPath
from objectd.manifest import Manifest
from objectd.stream_reader import StreamUnreadable
from objectd.stream_writer import WriteQuorumLost
from placement.ring import NotEnoughNodes
from s3api import errors as s3
from s3api.checksums import (
    ChecksumAlgorithm,
    ChecksumType,
    PartChecksum,
    combine_full_object_crc,
    composite_checksum,
    multipart_etag,
    new_checksum,
)
from s3api.service import (
    BodyDigest,
    BucketInfo,
    ByteRange,
    Checksum,
    CompletedPart,
    ListPage,
    ObjectHeaders,
    ObjectInfo,
    PartInfo,
    PartListPage,
    Principal,
    RequestBody,
    UploadInfo,
    UploadListPage,
    VersionListPage,
    WriteCondition,
)

log = logging.getLogger("objectd.service")

T = TypeVar("T")

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10_000
HASH_OFF_LOOP = 64 * 1024


def new_version_id() -> str:
    """A version id: time-ordered hex plus randomness."""
    return f"{time.time_ns():016x}{random_bytes(8).hex()}"


def new_upload_id() -> str:
    """A multipart upload id (URL-safe)."""
    return secrets.token_urlsafe(36)


def _quoted(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'


def _unquoted(etag: str) -> str:
    return etag.strip().strip('"')


def _checksum_dict(c: Checksum | None) -> dict[str, str] | None:
    if c is None:
        return None
    return {"algorithm": c.algorithm, "value": c.value, "type": c.type}


def _checksum_value(d: dict[str, str] | None) -> Checksum | None:
    if not d:
        return None
    return Checksum(algorithm=d["algorithm"], value=d["value"], type=d.get("type", "FULL_OBJECT"))


def object_info(v: ObjectVersion) -> ObjectInfo:
    """The S3 view of a stored version."""
    return ObjectInfo(
        bucket=v.bucket,
        key=v.key,
        version_id="null" if v.null_version else v.version_id,
        size=v.size,
        etag=_quoted(v.etag),
        last_modified=v.last_modified,
        headers=ObjectHeaders(standard=dict(v.headers), user=dict(v.user_metadata)),
        checksum=_checksum_value(v.checksum),
        part_sizes=tuple(v.part_sizes),
        storage_class=v.storage_class,
        is_delete_marker=v.is_delete_marker,
        owner=v.owner,
    )


def bucket_info(b: Bucket) -> BucketInfo:
    """The S3 view of a bucket row."""
    return BucketInfo(name=b.name, owner=b.owner, created=b.created, region=b.region,
                      versioning=b.versioning)


def upload_info(u: Upload) -> UploadInfo:
    """The S3 view of an upload row."""
    return UploadInfo(
        bucket=u.bucket,
        key=u.key,
        upload_id=u.upload_id,
        initiated=u.initiated,
        owner=u.owner,
        headers=ObjectHeaders(standard=dict(u.headers), user=dict(u.user_metadata)),
        checksum_algorithm=u.checksum_algorithm,
        checksum_type=u.checksum_type,
        storage_class=u.storage_class,
    )


def part_info(p: Part) -> PartInfo:
    """The S3 view of a part row."""
    return PartInfo(part_number=p.part_number, size=p.size, etag=_quoted(p.etag),
                    last_modified=p.last_modified, checksum=_checksum_value(p.checksum))


class StoredObjectReader:
    """An object version opened for reading (see ObjectReader)."""

    def __init__(self, info: ObjectInfo, manifest: Manifest, data: DataPath) -> None:
        self.info = info
        self.manifest = manifest
        self._data = data

    async def read(self, byte_range: ByteRange | None) -> AsyncIterator[bytes | memoryview]:
        """Stream the bytes; a failure to reconstruct is an InternalError, logged
        with the object and its stores, never wrong bytes."""
        if self.info.size == 0:
            return
        first, last = (0, self.info.size - 1) if byte_range is None else (byte_range.first, byte_range.last)
        try:
            async for piece in self._data.read(self.manifest, first, last):
                yield piece
        except (StreamUnreadable, ErasureError) as exc:
            log.error(
                "object unreadable",
                extra={"bucket": self.info.bucket, "key": self.info.key,
                       "version": self.info.version_id, "reason": str(exc)},
            )
            raise s3.InternalError() from exc


class _CopiedBody:
    """A RequestBody over an existing object's bytes (CopyObject, UploadPartCopy),
    hashed with MD5 and ``algorithm`` (no checksum when None)."""

    def __init__(
        self, source: StoredObjectReader, byte_range: ByteRange | None, algorithm: str | None
    ) -> None:
        self._source = source
        self._range = byte_range
        self._md5 = hashlib.md5()
        self._size = 0
        self._algorithm = ChecksumAlgorithm.from_name(algorithm) if algorithm else None
        self._checksum = new_checksum(self._algorithm) if self._algorithm else None

    def _hash(self, piece: bytes | bytearray | memoryview) -> None:
        self._md5.update(piece)
        if self._checksum is not None:
            self._checksum.update(piece)

    async def chunks(self) -> AsyncIterator[bytes | memoryview]:
        loop = asyncio.get_running_loop()
        async for piece in self._unhashed():
            if len(piece) >= HASH_OFF_LOOP:
                await loop.run_in_executor(None, self._hash, piece)
            else:
                self._hash(piece)
            yield piece

    def chunks_unhashed(
        self,
    ) -> tuple[AsyncIterator[bytes | memoryview], Callable[[bytes | bytearray | memoryview], None]]:
        return self._unhashed(), self._hash

    async def _unhashed(self) -> AsyncIterator[bytes | memoryview]:
        async for piece in self._source.read(self._range):
            self._size += len(piece)
            yield piece

    async def finish(self) -> BodyDigest:
        checksum = None
        if self._checksum is not None and self._algorithm is not None:
            checksum = Checksum(self._algorithm.value, self._checksum.b64(), "FULL_OBJECT")
        return BodyDigest(size=self._size, md5=self._md5.digest(), checksum=checksum)


class StoreObjectService:
    """ObjectService over a metadata store and a data path."""

    def __init__(self, metadata: MetadataStore, data: DataPath, *, min_part_size: int = MIN_PART_SIZE) -> None:
        self.metadata = metadata
        self.data = data
        self.min_part_size = min_part_size

    # -- helpers -----------------------------------------------------------

    async def _bucket(self, principal: Principal, name: str) -> Bucket:
        bucket = await self._md(self.metadata.get_bucket(name))
        if bucket is None:
            raise s3.NoSuchBucket(BucketName=name)
        if bucket.owner != principal.user:
            raise s3.AccessDenied()
        return bucket

    @staticmethod
    async def _md(awaitable: Awaitable[T]) -> T:
        """Await a metadata call, mapping an unreachable database to 503."""
        try:
            return await awaitable
        except md_errors.StoreUnavailable as exc:
            raise s3.ServiceUnavailable() from exc

    async def _store_body(self, body: RequestBody) -> tuple[Manifest, BodyDigest]:
        digest: list[BodyDigest] = []

        async def verify() -> None:
            digest.append(await body.finish())

        # The body is hashed where the data path encodes it: one thread
        # hand-off per segment instead of one for hashing and one for encoding.
        chunks, digest_update = body.chunks_unhashed()
        try:
            manifest = await self.data.store(chunks, verify, digest_update)
        except (WriteQuorumLost, NotEnoughNodes) as exc:
            log.error("write failed", extra={"reason": str(exc)})
            raise s3.ServiceUnavailable("Not enough storage available for the write.") from exc
        return manifest, digest[0]

    async def _commit(self, manifest: Manifest, commit: Awaitable[object]) -> None:
        """Run a metadata commit; on any failure the stored data becomes garbage."""
        try:
            await commit
        except BaseException:
            await asyncio.shield(self.data.discard(manifest))
            raise

    # -- buckets -----------------------------------------------------------

    async def list_buckets(self, principal: Principal) -> list[BucketInfo]:
        """The caller's buckets."""
        return [bucket_info(b) for b in await self._md(self.metadata.list_buckets(principal.user))]

    async def create_bucket(self, principal: Principal, bucket: str, region: str) -> BucketInfo:
        """Create a bucket owned by the caller."""
        row = Bucket(name=bucket, owner=principal.user, created=time.time(), region=region)
        try:
            await self._md(self.metadata.create_bucket(row))
        except md_errors.BucketExists as exc:
            if exc.owner == principal.user:
                raise s3.BucketAlreadyOwnedByYou(BucketName=bucket) from None
            raise s3.BucketAlreadyExists(BucketName=bucket) from None
        return bucket_info(row)

    async def get_bucket(self, principal: Principal, bucket: str) -> BucketInfo:
        """A bucket the caller owns."""
        return bucket_info(await self._bucket(principal, bucket))

    async def delete_bucket(self, principal: Principal, bucket: str) -> None:
        """Delete an empty bucket."""
        await self._bucket(principal, bucket)
        try:
            await self._md(self.metadata.delete_bucket(bucket))
        except md_errors.BucketNotEmpty:
            raise s3.BucketNotEmpty(BucketName=bucket) from None
        except md_errors.BucketNotFound:
            raise s3.NoSuchBucket(BucketName=bucket) from None

    # -- objects -----------------------------------------------------------

    async def _commit_version(
        self, version: ObjectVersion, manifest: Manifest, condition: WriteCondition | None
    ) -> None:
        cond = condition or WriteCondition()
        try:
            await self._commit(
                manifest,
                self._md(
                    self.metadata.put_object(
                        version,
                        if_none_match_star=cond.if_none_match_star,
                        if_match=_unquoted(cond.if_match) if cond.if_match else None,
                        intent=self.data.intent_of(manifest),
                    )
                ),
            )
        except md_errors.ConditionFailed:
            raise s3.PreconditionFailed(Condition="If-None-Match" if cond.if_none_match_star else "If-Match") from None
        except md_errors.KeyNotFound:
            raise s3.NoSuchKey(Key=version.key) from None
        except md_errors.BucketNotFound:
            raise s3.NoSuchBucket(BucketName=version.bucket) from None

    async def put_object(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        headers: ObjectHeaders,
        body: RequestBody,
        condition: WriteCondition | None = None,
    ) -> ObjectInfo:
        """Store and commit a new version."""
        b = await self._bucket(principal, bucket)
        manifest, digest = await self._store_body(body)
        version = ObjectVersion(
            bucket=bucket,
            key=key,
            version_id=new_version_id(),
            size=digest.size,
            etag=digest.md5.hex(),
            last_modified=time.time(),
            manifest=manifest.encode(),
            owner=principal.user,
            headers=dict(headers.standard),
            user_metadata=dict(headers.user),
            checksum=_checksum_dict(digest.checksum),
            null_version=b.versioning != "Enabled",
        )
        await self._commit_version(version, manifest, condition)
        return object_info(version)

    async def open_object(
        self, principal: Principal, bucket: str, key: str, version_id: str | None = None
    ) -> StoredObjectReader:
        """Open a version for reading."""
        await self._bucket(principal, bucket)
        version = await self._md(self.metadata.get_object(bucket, key, version_id))
        if version is None:
            if version_id is not None:
                raise s3.NoSuchVersion(Key=key, VersionId=version_id)
            raise s3.NoSuchKey(Key=key)
        if version.is_delete_marker:
            raise s3.NoSuchKey(Key=key)
        return StoredObjectReader(object_info(version), Manifest.decode(version.manifest), self.data)

    async def delete_object(
        self, principal: Principal, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectInfo | None:
        """Delete a version; a missing key is not an error."""
        await self._bucket(principal, bucket)
        try:
            removed = await self._md(self.metadata.delete_object(bucket, key, version_id))
        except md_errors.BucketNotFound:
            raise s3.NoSuchBucket(BucketName=bucket) from None
        return object_info(removed) if removed is not None else None

    async def copy_object(
        self,
        principal: Principal,
        source: StoredObjectReader,  # type: ignore[override]
        bucket: str,
        key: str,
        headers: ObjectHeaders,
        condition: WriteCondition | None = None,
        checksum_algorithm: str | None = None,
    ) -> ObjectInfo:
        """Write ``source``'s bytes as a new version of bucket/key, checksummed
        with ``checksum_algorithm`` or else the source's algorithm."""
        if checksum_algorithm is None and source.info.checksum is not None:
            checksum_algorithm = source.info.checksum.algorithm
        body = _CopiedBody(source, None, checksum_algorithm)
        return await self.put_object(principal, bucket, key, headers, body, condition)

    async def list_objects(
        self, principal: Principal, bucket: str, prefix: str, delimiter: str, start_after: str, max_keys: int
    ) -> ListPage:
        """One page of current keys."""
        await self._bucket(principal, bucket)
        page = await self._md(self.metadata.list_objects(bucket, prefix, delimiter, start_after, max_keys))
        return ListPage(
            objects=[object_info(v) for v in page.objects],
            common_prefixes=list(page.common_prefixes),
            is_truncated=page.is_truncated,
            next_marker=page.next_marker,
        )

    async def list_object_versions(
        self,
        principal: Principal,
        bucket: str,
        prefix: str,
        delimiter: str,
        key_marker: str,
        version_id_marker: str,
        max_keys: int,
    ) -> VersionListPage:
        """One page of versions."""
        await self._bucket(principal, bucket)
        page = await self._md(
            self.metadata.list_object_versions(bucket, prefix, delimiter, key_marker, version_id_marker, max_keys)
        )
        return VersionListPage(
            versions=[object_info(v) for v in page.versions],
            common_prefixes=list(page.common_prefixes),
            is_truncated=page.is_truncated,
            next_key_marker=page.next_key_marker,
            next_version_id_marker=page.next_version_id_marker,
        )

    # -- multipart ---------------------------------------------------------

    async def _upload(self, principal: Principal, bucket: str, key: str, upload_id: str) -> Upload:
        await self._bucket(principal, bucket)
        upload = await self._md(self.metadata.get_upload(upload_id))
        if upload is None or upload.bucket != bucket or upload.key != key:
            raise s3.NoSuchUpload(UploadId=upload_id)
        return upload

    async def create_multipart_upload(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        headers: ObjectHeaders,
        checksum_algorithm: str | None,
        checksum_type: str | None,
    ) -> UploadInfo:
        """Start an upload."""
        await self._bucket(principal, bucket)
        if checksum_type and not checksum_algorithm:
            raise s3.InvalidRequest(
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
            )
        if checksum_algorithm:
            alg = ChecksumAlgorithm.from_name(checksum_algorithm)
            ctype = checksum_type or ("FULL_OBJECT" if alg is ChecksumAlgorithm.CRC64NVME else "COMPOSITE")
            ChecksumType.parse(ctype)
            if ctype == "FULL_OBJECT" and not alg.is_crc:
                raise s3.InvalidRequest(
                    f"The {alg.value} algorithm is not supported for the FULL_OBJECT checksum type."
                )
            if ctype == "COMPOSITE" and alg is ChecksumAlgorithm.CRC64NVME:
                raise s3.InvalidRequest("The CRC64NVME algorithm is not supported for the COMPOSITE checksum type.")
            checksum_algorithm, checksum_type = alg.value, ctype
        upload = Upload(
            upload_id=new_upload_id(),
            bucket=bucket,
            key=key,
            initiated=time.time(),
            owner=principal.user,
            headers=dict(headers.standard),
            user_metadata=dict(headers.user),
            checksum_algorithm=checksum_algorithm,
            checksum_type=checksum_type,
        )
        try:
            await self._md(self.metadata.create_upload(upload))
        except md_errors.BucketNotFound:
            raise s3.NoSuchBucket(BucketName=bucket) from None
        return upload_info(upload)

    async def _store_part(
        self, upload: Upload, part_number: int, body: RequestBody
    ) -> PartInfo:
        if not 1 <= part_number <= MAX_PARTS:
            raise s3.InvalidArgument(
                "Part number must be an integer between 1 and 10000, inclusive",
                ArgumentName="partNumber", ArgumentValue=str(part_number),
            )
        manifest, digest = await self._store_body(body)
        if upload.checksum_algorithm and digest.checksum is not None:
            if digest.checksum.algorithm != upload.checksum_algorithm:
                await self.data.discard(manifest)
                raise s3.InvalidRequest(
                    f"Checksum Type mismatch occurred, expected checksum Type: "
                    f"{upload.checksum_algorithm.lower()}, actual checksum Type: "
                    f"{digest.checksum.algorithm.lower()}"
                )
        part = Part(
            upload_id=upload.upload_id,
            part_number=part_number,
            size=digest.size,
            etag=digest.md5.hex(),
            last_modified=time.time(),
            manifest=manifest.encode(),
            checksum=_checksum_dict(digest.checksum),
        )
        try:
            await self._commit(manifest, self._md(self.metadata.put_part(part, intent=self.data.intent_of(manifest))))
        except md_errors.UploadNotFound:
            raise s3.NoSuchUpload(UploadId=upload.upload_id) from None
        return part_info(part)

    async def upload_part(
        self, principal: Principal, bucket: str, key: str, upload_id: str, part_number: int, body: RequestBody
    ) -> PartInfo:
        """Store one part."""
        upload = await self._upload(principal, bucket, key, upload_id)
        return await self._store_part(upload, part_number, body)

    async def upload_part_copy(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        source: StoredObjectReader,  # type: ignore[override]
        byte_range: ByteRange | None,
    ) -> PartInfo:
        """Store one part from an existing object, checksummed with the upload's algorithm."""
        upload = await self._upload(principal, bucket, key, upload_id)
        body = _CopiedBody(source, byte_range, upload.checksum_algorithm)
        return await self._store_part(upload, part_number, body)

    async def complete_multipart_upload(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        upload_id: str,
        parts: Sequence[CompletedPart],
        condition: WriteCondition | None = None,
        full_object_checksum: Checksum | None = None,
    ) -> ObjectInfo:
        """Join parts into one object version."""
        b = await self._bucket(principal, bucket)
        upload = await self._upload(principal, bucket, key, upload_id)
        if not parts:
            raise s3.MalformedXML()
        numbers = [p.part_number for p in parts]
        if any(b_ <= a for a, b_ in zip(numbers, numbers[1:])):
            raise s3.InvalidPartOrder(UploadId=upload_id)
        stored = {p.part_number: p for p in await self._md(self.metadata.get_parts(upload_id, numbers))}
        chosen: list[Part] = []
        for requested in parts:
            part = stored.get(requested.part_number)
            if part is None and len(stored) < len(set(numbers)):
                # A racing Complete or Abort (another gateway) may have ended
                # the upload between reading it and reading its parts: then
                # the answer is NoSuchUpload, not a missing part.
                await self._upload(principal, bucket, key, upload_id)
            if part is None or _unquoted(requested.etag) != part.etag:
                raise s3.InvalidPart(UploadId=upload_id, PartNumber=str(requested.part_number),
                                     ETag=requested.etag)
            if upload.checksum_algorithm and part.checksum:
                sent = requested.checksums.get(upload.checksum_algorithm)
                if sent is not None and sent != part.checksum["value"]:
                    raise s3.InvalidPart(UploadId=upload_id, PartNumber=str(requested.part_number))
            chosen.append(part)
        for part in chosen[:-1]:
            if part.size < self.min_part_size:
                raise s3.EntityTooSmall(
                    UploadId=upload_id, PartNumber=str(part.part_number),
                    ProposedSize=str(part.size), MinSizeAllowed=str(self.min_part_size),
                )
        checksum = self._multipart_checksum(upload, chosen, full_object_checksum)
        manifest = Manifest.join(Manifest.decode(p.manifest) for p in chosen)
        version = ObjectVersion(
            bucket=bucket,
            key=key,
            version_id=new_version_id(),
            size=sum(p.size for p in chosen),
            etag=multipart_etag([bytes.fromhex(p.etag) for p in chosen]),
            last_modified=time.time(),
            manifest=manifest.encode(),
            owner=principal.user,
            headers=dict(upload.headers),
            user_metadata=dict(upload.user_metadata),
            checksum=_checksum_dict(checksum),
            part_sizes=tuple(p.size for p in chosen),
            null_version=b.versioning != "Enabled",
        )
        cond = condition or WriteCondition()
        try:
            await self._md(
                self.metadata.complete_upload(
                    upload_id,
                    version,
                    numbers,
                    if_none_match_star=cond.if_none_match_star,
                    if_match=_unquoted(cond.if_match) if cond.if_match else None,
                )
            )
        except md_errors.UploadNotFound:
            raise s3.NoSuchUpload(UploadId=upload_id) from None
        except md_errors.ConditionFailed:
            raise s3.PreconditionFailed() from None
        except md_errors.KeyNotFound:
            raise s3.NoSuchKey(Key=key) from None
        except md_errors.BucketNotFound:
            raise s3.NoSuchBucket(BucketName=bucket) from None
        return object_info(version)

    @staticmethod
    def _multipart_checksum(
        upload: Upload, parts: Sequence[Part], full_object: Checksum | None
    ) -> Checksum | None:
        if not upload.checksum_algorithm:
            return None
        alg = ChecksumAlgorithm.from_name(upload.checksum_algorithm)
        if any(not p.checksum or p.checksum.get("algorithm") != alg.value for p in parts):
            # A part was sent without the upload's checksum: nothing trustworthy to combine.
            return None
        digests = [PartChecksum(digest=_b64decode(p.checksum["value"]), length=p.size) for p in parts]  # type: ignore[index]
        if upload.checksum_type == "FULL_OBJECT":
            value = _b64encode(combine_full_object_crc(alg, digests))
            if full_object is not None and full_object.value != value:
                raise s3.BadDigest(f"The {alg.value} you specified did not match the calculated checksum.")
            return Checksum(alg.value, value, "FULL_OBJECT")
        value = composite_checksum(alg, [d.digest for d in digests])
        return Checksum(alg.value, value, "COMPOSITE")

    async def abort_multipart_upload(self, principal: Principal, bucket: str, key: str, upload_id: str) -> None:
        """Drop an upload and its parts."""
        await self._upload(principal, bucket, key, upload_id)
        try:
            await self._md(self.metadata.abort_upload(upload_id))
        except md_errors.UploadNotFound:
            raise s3.NoSuchUpload(UploadId=upload_id) from None

    async def list_parts(
        self, principal: Principal, bucket: str, key: str, upload_id: str, part_number_marker: int, max_parts: int
    ) -> PartListPage:
        """One page of an upload's parts."""
        upload = await self._upload(principal, bucket, key, upload_id)
        parts, truncated = await self._md(self.metadata.list_parts(upload_id, part_number_marker, max_parts))
        return PartListPage(
            upload=upload_info(upload),
            parts=[part_info(p) for p in parts],
            is_truncated=truncated,
            next_part_number_marker=parts[-1].part_number if parts else None,
        )

    async def list_multipart_uploads(
        self,
        principal: Principal,
        bucket: str,
        prefix: str,
        delimiter: str,
        key_marker: str,
        upload_id_marker: str,
        max_uploads: int,
    ) -> UploadListPage:
        """One page of uploads in progress."""
        await self._bucket(principal, bucket)
        page = await self._md(
            self.metadata.list_uploads(bucket, prefix, delimiter, key_marker, upload_id_marker, max_uploads)
        )
        return UploadListPage(
            uploads=[upload_info(u) for u in page.uploads],
            common_prefixes=list(page.common_prefixes),
            is_truncated=page.is_truncated,
            next_key_marker=page.next_key_marker,
            next_upload_id_marker=page.next_upload_id_marker,
        )



def _b64decode(value: str) -> bytes:
    return base64.b64decode(value)


def _b64encode(value: bytes) -> str:
    return base64.b64encode(value).decode()
