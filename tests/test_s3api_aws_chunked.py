"""Tests for s3api.aws_chunked: AWS's chunked-upload examples, botocore bodies, framing errors."""

from __future__ import annotations

import base64
import datetime as dt
import io
import random
from collections.abc import Iterable, Iterator
from unittest import mock
from urllib.parse import urlsplit

import botocore.session
import pytest
from botocore.config import Config

from s3api.auth_errors import InvalidChunkSizeError, MalformedTrailerError
from s3api.aws_chunked import (
    AwsChunkedDecoder,
    Data,
    EndOfBody,
    Trailers,
    parse_trailer_header,
)
from s3api.checksums import ChecksumAlgorithm, new_checksum
from s3api.errors import (
    IncompleteBody,
    InvalidRequest,
    NotImplemented,
    SignatureDoesNotMatch,
)
from s3api.sigv4 import (
    ChunkSignatureChain,
    ChunkSigningContext,
    PayloadMode,
    RequestParts,
    SigV4Verifier,
    derive_signing_key,
    parse_authorization,
)

UTC = dt.UTC
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_TIME = dt.datetime(2013, 5, 24, 0, 0, 0, tzinfo=UTC)
DOC_KEY = derive_signing_key(DOC_SECRET, "20130524", "us-east-1", "s3")
DOC_SCOPE = "20130524/us-east-1/s3/aws4_request"
DOC_DATA = b"a" * 66560

# "Example: PUT Object" of "Transferring Payload in Multiple Chunks".
SIGNED_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
SIGNED_CHUNKS = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
# "Example: PUT Object" of "Signature calculations for trailing headers".
TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
TRAILER_CHUNKS = (
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
)
TRAILER_LINES = (
    b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
    b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n"
)


def signed_body(signatures: Iterable[str], data: bytes = DOC_DATA, trailer: bytes | None = None) -> bytes:
    first, second, last = signatures
    body = (
        b"10000;chunk-signature=" + first.encode() + b"\r\n" + data[:65536] + b"\r\n"
        + b"400;chunk-signature=" + second.encode() + b"\r\n" + data[65536:] + b"\r\n"
        + b"0;chunk-signature=" + last.encode() + b"\r\n"
    )
    return body + (trailer + b"\r\n" if trailer is not None else b"\r\n")


SIGNED_BODY = signed_body(SIGNED_CHUNKS)
TRAILER_BODY = signed_body(TRAILER_CHUNKS, trailer=TRAILER_LINES)


def chain(seed: str) -> ChunkSignatureChain:
    return ChunkSignatureChain(ChunkSigningContext(DOC_KEY, seed, "20130524T000000Z", DOC_SCOPE))


def signed_decoder(decoded_length: int | None = 66560) -> AwsChunkedDecoder:
    return AwsChunkedDecoder(PayloadMode.STREAMING_SIGNED, chain(SIGNED_SEED), (), decoded_length)


def trailer_decoder() -> AwsChunkedDecoder:
    return AwsChunkedDecoder(
        PayloadMode.STREAMING_SIGNED_TRAILER, chain(TRAILER_SEED), {"x-amz-checksum-crc32c"}, 66560
    )


def feed(decoder: AwsChunkedDecoder, pieces: Iterable[bytes | memoryview]) -> tuple[bytes, dict[str, str] | None]:
    """Feed every piece, end the input; return the data and the trailers, checking event order."""
    data = bytearray()
    trailers = None
    ended = False
    for piece in pieces:
        for event in decoder.receive_data(piece):
            assert not ended
            if isinstance(event, Data):
                assert trailers is None
                data += event.data
            elif isinstance(event, Trailers):
                trailers = event.headers
            else:
                assert isinstance(event, EndOfBody)
                ended = True
    decoder.end_of_input()
    assert ended and decoder.finished
    return bytes(data), trailers


def one_byte_at_a_time(body: bytes) -> Iterator[bytes]:
    return (body[i : i + 1] for i in range(len(body)))


def random_splits(body: bytes, seed: int, max_piece: int = 5000) -> list[bytes]:
    rng = random.Random(seed)
    pieces, pos = [], 0
    while pos < len(body):
        size = rng.choice([1, 2, 3, rng.randint(1, 100), rng.randint(1, max_piece)])
        pieces.append(body[pos : pos + size])
        pos += size
    return pieces


# --- AWS's examples ---------------------------------------------------------------


def test_aws_signed_example_in_one_buffer():
    buffer = memoryview(bytearray(SIGNED_BODY))
    decoder = signed_decoder()
    events = decoder.receive_data(buffer)
    assert [type(e) for e in events] == [Data, Data, EndOfBody]
    # Payload is handed out as slices of the caller's buffer, not copies.
    assert all(isinstance(e.data, memoryview) and e.data.obj is buffer.obj for e in events[:2])
    assert bytes(events[0].data) + bytes(events[1].data) == DOC_DATA
    decoder.end_of_input()
    assert decoder.decoded_bytes == 66560


def test_aws_signed_example_one_byte_at_a_time():
    assert feed(signed_decoder(), one_byte_at_a_time(SIGNED_BODY)) == (DOC_DATA, None)


@pytest.mark.parametrize("seed", range(8))
def test_aws_signed_example_random_splits(seed):
    assert feed(signed_decoder(), random_splits(SIGNED_BODY, seed)) == (DOC_DATA, None)


def test_aws_signed_example_without_decoded_length():
    assert feed(signed_decoder(decoded_length=None), [SIGNED_BODY]) == (DOC_DATA, None)


def test_aws_trailer_example_one_byte_at_a_time():
    data, trailers = feed(trailer_decoder(), one_byte_at_a_time(TRAILER_BODY))
    assert data == DOC_DATA
    assert trailers == {"x-amz-checksum-crc32c": "sOO8/Q=="}
    crc = new_checksum(ChecksumAlgorithm.CRC32C)
    crc.update(data)
    assert crc.b64() == trailers["x-amz-checksum-crc32c"]


@pytest.mark.parametrize("seed", range(8))
def test_aws_trailer_example_random_splits(seed):
    assert feed(trailer_decoder(), random_splits(TRAILER_BODY, seed))[1] == {"x-amz-checksum-crc32c": "sOO8/Q=="}


def test_aws_trailer_example_with_blank_line_before_trailers():
    body = signed_body(TRAILER_CHUNKS, trailer=b"\r\n" + TRAILER_LINES)
    assert feed(trailer_decoder(), [body])[1] == {"x-amz-checksum-crc32c": "sOO8/Q=="}


def test_seed_request_verifies_then_body_decodes():
    # The request of the chunked example, verified from its headers; its
    # result carries everything the chunk verifier needs.
    headers = [
        ("Host", "s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), ("Content-Encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"), ("Content-Length", str(len(SIGNED_BODY))),
        ("Authorization", (
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
            f"x-amz-decoded-content-length;x-amz-storage-class,Signature={SIGNED_SEED}"
        )),
    ]
    parts = RequestParts.build("PUT", "/examplebucket/chunkObject.txt", [], headers)
    verified = SigV4Verifier().verify(parts, parse_authorization(parts.header("authorization")), DOC_SECRET,
                                      DOC_TIME)
    assert verified.payload_mode is PayloadMode.STREAMING_SIGNED
    assert verified.signing.seed_signature == SIGNED_SEED
    decoder = AwsChunkedDecoder(verified.payload_mode, verified.chunk_signature_chain(), (),
                                int(parts.header("x-amz-decoded-content-length")))
    assert feed(decoder, random_splits(SIGNED_BODY, 99))[0] == DOC_DATA


def test_seed_request_of_trailer_example_verifies():
    headers = [
        ("Host", "s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"),
        ("Content-Encoding", "aws-chunked"), ("x-amz-decoded-content-length", "66560"),
        ("x-amz-trailer", "x-amz-checksum-crc32c"),
        ("Authorization", (
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
            f"x-amz-storage-class;x-amz-trailer,Signature={TRAILER_SEED}"
        )),
    ]
    parts = RequestParts.build("PUT", "/examplebucket/chunkObject.txt", [], headers)
    verified = SigV4Verifier().verify(parts, parse_authorization(parts.header("authorization")), DOC_SECRET,
                                      DOC_TIME)
    assert verified.payload_mode is PayloadMode.STREAMING_SIGNED_TRAILER
    decoder = AwsChunkedDecoder(verified.payload_mode, verified.chunk_signature_chain(),
                                parse_trailer_header(parts.header("x-amz-trailer")), 66560)
    assert feed(decoder, [TRAILER_BODY])[1] == {"x-amz-checksum-crc32c": "sOO8/Q=="}


# --- signature failures -----------------------------------------------------------


def decode_failure(decoder: AwsChunkedDecoder, body: bytes, pieces: int = 1) -> None:
    step = max(1, len(body) // pieces)
    for pos in range(0, len(body), step):
        decoder.receive_data(body[pos : pos + step])
    decoder.end_of_input()


@pytest.mark.parametrize("position", [0, 65535, 65536, 66559])
def test_tampered_data_byte_fails(position):
    data = bytearray(DOC_DATA)
    data[position] = ord("b")
    with pytest.raises(SignatureDoesNotMatch):
        decode_failure(signed_decoder(), signed_body(SIGNED_CHUNKS, bytes(data)), pieces=7)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_wrong_chunk_signature_fails(index):
    signatures = list(SIGNED_CHUNKS)
    signatures[index] = signatures[index][::-1]
    with pytest.raises(SignatureDoesNotMatch):
        decode_failure(signed_decoder(), signed_body(signatures))


def test_signature_chain_from_another_request_fails():
    with pytest.raises(SignatureDoesNotMatch):
        decode_failure(AwsChunkedDecoder(PayloadMode.STREAMING_SIGNED, chain(TRAILER_SEED), (), 66560), SIGNED_BODY)


def test_bad_chunk_fails_before_end_of_body():
    body = signed_body([SIGNED_CHUNKS[0], SIGNED_CHUNKS[0], SIGNED_CHUNKS[2]])
    decoder = signed_decoder()
    seen: list[object] = []
    with pytest.raises(SignatureDoesNotMatch):
        for pos in range(0, len(body), 1000):
            seen += decoder.receive_data(body[pos : pos + 1000])
    assert not any(isinstance(e, EndOfBody) for e in seen)
    with pytest.raises(IncompleteBody):
        decoder.receive_data(b"more")


def test_tampered_trailer_value_fails():
    body = TRAILER_BODY.replace(b"sOO8/Q==", b"AAAAAA==")
    with pytest.raises(SignatureDoesNotMatch):
        decode_failure(trailer_decoder(), body)


def test_missing_trailer_signature_fails():
    body = signed_body(TRAILER_CHUNKS, trailer=b"x-amz-checksum-crc32c:sOO8/Q==\r\n")
    with pytest.raises(MalformedTrailerError):
        decode_failure(trailer_decoder(), body)


def test_missing_chunk_signature_in_signed_mode():
    body = SIGNED_BODY.replace(b";chunk-signature=" + SIGNED_CHUNKS[0].encode(), b"")
    with pytest.raises(IncompleteBody):
        decode_failure(signed_decoder(), body)


# --- truncation and framing -------------------------------------------------------


def interesting_prefixes(body: bytes) -> list[int]:
    boundaries = {0, len(body)}
    start = 0
    while (found := body.find(b"\r\n", start)) >= 0:
        boundaries.update({found, found + 1, found + 2})
        start = found + 1
    rng = random.Random(5)
    lengths = {b + d for b in boundaries for d in (-2, -1, 0, 1, 2)} | {rng.randrange(len(body)) for _ in range(40)}
    return sorted(n for n in lengths if 0 <= n < len(body))


@pytest.mark.parametrize("body, make", [(SIGNED_BODY, signed_decoder), (TRAILER_BODY, trailer_decoder)])
def test_every_truncation_is_incomplete_body(body, make):
    for length in interesting_prefixes(body):
        decoder = make()
        decoder.receive_data(body[:length])
        with pytest.raises(IncompleteBody):
            decoder.end_of_input()


@pytest.mark.parametrize("declared", [66559, 66561, 0, 1 << 40])
def test_decoded_length_must_match(declared):
    with pytest.raises(IncompleteBody):
        decode_failure(signed_decoder(decoded_length=declared), SIGNED_BODY)


def unsigned(body: bytes, trailers: Iterable[str] = (), decoded_length: int | None = None,
             **options: int) -> tuple[bytes, dict[str, str] | None]:
    decoder = AwsChunkedDecoder(PayloadMode.STREAMING_UNSIGNED_TRAILER, None, trailers, decoded_length, **options)
    return feed(decoder, [body])


BIG = b"x" * 9000
UNSIGNED_BODY = b"2328\r\n" + BIG + b"\r\n3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"


def test_unsigned_trailer_body():
    assert unsigned(UNSIGNED_BODY, {"x-amz-checksum-crc32"}, 9003) == (
        BIG + b"abc", {"x-amz-checksum-crc32": "AAAAAA=="}
    )


def test_unsigned_trailer_body_without_trailers():
    assert unsigned(b"3\r\nabc\r\n0\r\n\r\n") == (b"abc", {})


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",  # size not hex
        b"\r\nabc\r\n0\r\n\r\n",  # size missing
        b"00000000000000003\r\nabc\r\n0\r\n\r\n",  # seventeen hex digits
        b"3\r\nabcX\r\n0\r\n\r\n",  # data longer than declared
        b"3\r\nabc\n0\r\n\r\n",  # LF alone after data
        b"3\nabc\r\n0\r\n\r\n",  # LF alone after size
        b" 3\r\nabc\r\n0\r\n\r\n",  # blank before size
        b"3\r\nabc\r\n0\r\n\r\nextra",  # bytes after the end
        b"3" + b";x" * 3000 + b"\r\nabc\r\n0\r\n\r\n",  # absurdly long chunk header
        b"ffffffffffff\r\nabc",  # absurd chunk size
    ],
)
def test_malformed_framing_is_incomplete_body(body):
    with pytest.raises(IncompleteBody):
        unsigned(body)


def test_small_chunk_before_another_is_invalid_chunk_size():
    body = b"3e8\r\n" + b"a" * 1000 + b"\r\n3e8\r\n" + b"a" * 1000 + b"\r\n0\r\n\r\n"
    with pytest.raises(InvalidChunkSizeError) as caught:
        unsigned(body)
    assert caught.value.fields == {"Chunk": "2", "BadChunkSize": "1000"}
    assert unsigned(body, min_chunk_size=0)[0] == b"a" * 2000


@pytest.mark.parametrize(
    "trailer, expected",
    [
        (b"x-amz-checksum-sha256:AAAA\r\n", {"x-amz-checksum-crc32"}),  # not the announced one
        (b"", {"x-amz-checksum-crc32"}),  # announced, never sent
        (b"x-amz-checksum-crc32:AAAAAA==\r\n", set()),  # sent, never announced
        (b"x-amz-checksum-crc32AAAAAA==\r\n", {"x-amz-checksum-crc32"}),  # no colon
        (b":AAAAAA==\r\n", {"x-amz-checksum-crc32"}),  # no name
        (b"x-amz-checksum-crc32:\r\n", {"x-amz-checksum-crc32"}),  # no value
        (b"x-amz-checksum-crc32:AAAAAA==\r\nx-amz-checksum-crc32:AAAAAA==\r\n", {"x-amz-checksum-crc32"}),
        (b"x-amz-trailer-signature:" + b"0" * 64 + b"\r\n", set()),  # signature in unsigned mode
    ],
)
def test_malformed_trailers(trailer, expected):
    body = b"3\r\nabc\r\n0\r\n" + trailer + b"\r\n"
    decoder = AwsChunkedDecoder(PayloadMode.STREAMING_UNSIGNED_TRAILER, None, expected, 3)
    with pytest.raises(MalformedTrailerError):
        feed(decoder, [body])


def test_trailer_in_a_mode_without_trailers():
    body = SIGNED_BODY[:-2] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    with pytest.raises(MalformedTrailerError):
        decode_failure(signed_decoder(), body)


def test_constructor_checks_mode():
    with pytest.raises(ValueError):
        AwsChunkedDecoder(PayloadMode.UNSIGNED, None)
    with pytest.raises(ValueError):
        AwsChunkedDecoder(PayloadMode.STREAMING_SIGNED, None)
    with pytest.raises(NotImplemented):
        AwsChunkedDecoder(PayloadMode.STREAMING_ECDSA_TRAILER, None)


def test_parse_trailer_header():
    assert parse_trailer_header("x-amz-checksum-crc64nvme") == frozenset({"x-amz-checksum-crc64nvme"})
    assert parse_trailer_header(" X-Amz-Checksum-SHA1 ") == frozenset({"x-amz-checksum-sha1"})
    for bad in ("x-amz-checksum-sha10", "x-amz-meta-a", "x-amz-checksum-crc32,x-amz-checksum-sha1"):
        with pytest.raises(InvalidRequest):
            parse_trailer_header(bad)


# --- bodies produced by botocore ---------------------------------------------------


class Captured(Exception):
    """Raised from botocore's before-send hook to stop at the wire."""

    def __init__(self, request) -> None:
        super().__init__("captured")
        self.request = request


def _capture(request, **_: object) -> None:
    raise Captured(request)


SIGNING_TIME = dt.datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


def fixed_clock(remove_tzinfo: bool = True) -> dt.datetime:
    return SIGNING_TIME.replace(tzinfo=None) if remove_tzinfo else SIGNING_TIME


@pytest.fixture(scope="module")
def client():
    session = botocore.session.get_session()
    s3 = session.create_client(
        "s3", region_name="us-east-1", endpoint_url="https://s3.example.com",
        aws_access_key_id="AKID", aws_secret_access_key="SECRET",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    s3.meta.events.register("before-send.s3", _capture)
    with mock.patch("botocore.auth.get_current_datetime", fixed_clock), \
            mock.patch("botocore.crt.auth.get_current_datetime", fixed_clock):
        yield s3


# Every algorithm botocore can put in a trailer (it has no MD5 flexible checksum).
@pytest.mark.parametrize("algorithm", [a for a in ChecksumAlgorithm if a is not ChecksumAlgorithm.MD5])
@pytest.mark.parametrize("size", [0, 1, 100_000, 2_621_440 + 7])
def test_botocore_streaming_bodies(client, algorithm, size):
    payload = random.Random(size).randbytes(size)
    with pytest.raises(Captured) as caught:
        client.put_object(Bucket="b", Key="k", Body=io.BytesIO(payload), ChecksumAlgorithm=algorithm.value)
    request = caught.value.request
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    wire = request.body.read()

    parts = RequestParts.build("PUT", urlsplit(request.url).path, [], list(headers.items()))
    verified = SigV4Verifier().verify(parts, parse_authorization(headers["authorization"]), "SECRET",
                                      SIGNING_TIME)
    assert verified.payload_mode is PayloadMode.STREAMING_UNSIGNED_TRAILER
    assert headers["content-encoding"] == "aws-chunked"

    expected_trailers = parse_trailer_header(headers["x-amz-trailer"])
    assert expected_trailers == {algorithm.header}
    decoder = AwsChunkedDecoder(verified.payload_mode, None, expected_trailers,
                                int(headers["x-amz-decoded-content-length"]))
    data, trailers = feed(decoder, random_splits(wire, size, max_piece=300_000))
    assert data == payload
    computed = new_checksum(algorithm)
    computed.update(data)
    assert trailers == {algorithm.header: computed.b64()}
    assert base64.b64decode(trailers[algorithm.header]) == computed.digest()
