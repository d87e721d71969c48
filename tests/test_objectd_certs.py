"""objectd.certs: the cluster CA, node and gateway certificates, and the
mutual-TLS contexts, checked with real handshakes on loopback."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from objectd.certs import (
    ca_cert_file,
    cert_node_ids,
    client_context,
    create_ca,
    issue_gateway_cert,
    issue_node_cert,
    node_server_name,
    server_context,
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    base = tmp_path_factory.mktemp("pki")
    ca = base / "ca"
    create_ca(ca)
    node = issue_node_cert(ca, "node-1", ["127.0.0.1", "node1.example.net", "::1"])
    gateway = issue_gateway_cert(ca, "gw-1")
    other = base / "other"
    create_ca(other, common_name="another cluster")
    other_gateway = issue_gateway_cert(other, "gw-1")
    other_node = issue_node_cert(other, "node-1", ["127.0.0.1"])
    yield {
        "ca": ca, "node_cert": node.cert, "node_key": node.key,
        "gw_cert": gateway.cert, "gw_key": gateway.key,
        "other": other, "other_gw_cert": other_gateway.cert, "other_gw_key": other_gateway.key,
        "other_node_cert": other_node.cert, "other_node_key": other_node.key,
    }


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_create_ca_writes_a_ten_year_p256_ca_with_a_private_key(tmp_path: Path) -> None:
    files = create_ca(tmp_path / "ca")
    assert files.cert == tmp_path / "ca" / "ca.crt" and files.key == tmp_path / "ca" / "ca.key"
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    cert = load(files.cert)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert datetime.timedelta(days=3649) < lifetime < datetime.timedelta(days=3652)


def test_create_ca_refuses_to_replace_a_ca(tmp_path: Path) -> None:
    files = create_ca(tmp_path / "ca")
    before = files.cert.read_bytes(), files.key.read_bytes()
    with pytest.raises(FileExistsError):
        create_ca(tmp_path / "ca")
    assert (files.cert.read_bytes(), files.key.read_bytes()) == before


def test_node_certificate_names_the_node_and_its_hosts(pki: dict[str, Path]) -> None:
    cert = load(pki["node_cert"])
    cert.verify_directly_issued_by(load(pki["ca"] / "ca.crt"))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"node-1.node.objectd", "node1.example.net"}
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert stat.S_IMODE(pki["node_key"].stat().st_mode) == 0o600
    assert cert_node_ids(pki["node_cert"]) == ["node-1"]


def test_gateway_certificate_is_for_client_authentication_only(pki: dict[str, Path]) -> None:
    cert = load(pki["gw_cert"])
    cert.verify_directly_issued_by(load(pki["ca"] / "ca.crt"))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["gw-1.gateway.objectd"]
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert cert_node_ids(pki["gw_cert"]) == []
    assert stat.S_IMODE(pki["gw_key"].stat().st_mode) == 0o600


def test_a_certificate_of_another_ca_fails_verification(pki: dict[str, Path]) -> None:
    with pytest.raises((ValueError, TypeError)):
        load(pki["other_gw_cert"]).verify_directly_issued_by(load(pki["ca"] / "ca.crt"))


def test_issuing_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    create_ca(tmp_path)
    first = issue_node_cert(tmp_path, "n1", ["127.0.0.1"])
    before = first.cert.read_bytes()
    with pytest.raises(FileExistsError):
        issue_node_cert(tmp_path, "n1", ["10.0.0.1"])
    assert first.cert.read_bytes() == before
    again = issue_node_cert(tmp_path, "n1", ["10.0.0.1"], replace=True)
    assert again.cert.read_bytes() != before
    out = issue_gateway_cert(tmp_path, "gw", tmp_path / "elsewhere")
    assert out.cert == tmp_path / "elsewhere" / "gw.crt" and out.key.exists()


@pytest.mark.parametrize("name", ["", "Node1", "a..b", "../x", "-a", "a-", "a_b", "x" * 64, "a.b"])
def test_names_that_cannot_be_one_dns_label_are_refused(tmp_path: Path, name: str) -> None:
    create_ca(tmp_path)
    with pytest.raises(ValueError):
        node_server_name(name)
    with pytest.raises(ValueError):
        issue_node_cert(tmp_path, name, [])
    with pytest.raises(ValueError):
        issue_gateway_cert(tmp_path, name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ca.crt", "ca.key"]


def test_ca_may_be_given_as_folder_or_file(pki: dict[str, Path]) -> None:
    assert ca_cert_file(pki["ca"]) == pki["ca"] / "ca.crt"
    assert ca_cert_file(pki["ca"] / "ca.crt") == pki["ca"] / "ca.crt"


def test_contexts_require_certificates_and_tls_1_2(pki: dict[str, Path]) -> None:
    server = server_context(pki["ca"], pki["node_cert"], pki["node_key"])
    client = client_context(pki["ca"] / "ca.crt", pki["gw_cert"], pki["gw_key"])
    for context in (server, client):
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
        # The cluster CA only: no system roots.
        assert [c["subject"] for c in context.get_ca_certs()] == [
            ((("organizationName", "objectd"),), (("commonName", "objectd cluster CA"),))
        ]
    assert client.check_hostname


# --- real handshakes ----------------------------------------------------------


async def handshake(server: ssl.SSLContext, client: ssl.SSLContext, server_name: str) -> str:
    """Run one TLS connection on loopback; the gateway name the server saw
    (from the client certificate's SAN). Raises what the client sees when
    either side refuses."""
    seen: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cert = writer.get_extra_info("peercert") or {}
        seen.extend(value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS")
        writer.write(b"hello")
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server)
    port = listener.sockets[0].getsockname()[1]
    try:
        async with asyncio.timeout(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client,
                                                           server_hostname=server_name)
            try:
                data = await reader.read()
            finally:
                writer.close()
        if data != b"hello":
            raise ConnectionError(f"server refused the connection (read {data!r})")
        return seen[0]
    finally:
        listener.close()
        await listener.wait_closed()


async def test_gateway_and_node_authenticate_each_other(pki: dict[str, Path]) -> None:
    seen = await handshake(
        server_context(pki["ca"], pki["node_cert"], pki["node_key"]),
        client_context(pki["ca"], pki["gw_cert"], pki["gw_key"]),
        node_server_name("node-1"),
    )
    assert seen == "gw-1.gateway.objectd"


async def test_node_refuses_a_gateway_of_another_ca(pki: dict[str, Path]) -> None:
    # The rogue client trusts our CA, so only the node's check can refuse it.
    rogue = client_context(pki["ca"], pki["other_gw_cert"], pki["other_gw_key"])
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await handshake(server_context(pki["ca"], pki["node_cert"], pki["node_key"]), rogue,
                        node_server_name("node-1"))


async def test_node_refuses_a_client_without_a_certificate(pki: dict[str, Path]) -> None:
    anonymous = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    anonymous.load_verify_locations(pki["ca"] / "ca.crt")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await handshake(server_context(pki["ca"], pki["node_cert"], pki["node_key"]), anonymous,
                        node_server_name("node-1"))


async def test_node_refuses_a_node_certificate_posing_as_a_gateway(pki: dict[str, Path]) -> None:
    posing = client_context(pki["ca"], pki["node_cert"], pki["node_key"])
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await handshake(server_context(pki["ca"], pki["node_cert"], pki["node_key"]), posing,
                        node_server_name("node-1"))


async def test_gateway_refuses_a_node_of_another_ca(pki: dict[str, Path]) -> None:
    rogue_node = server_context(pki["ca"], pki["other_node_cert"], pki["other_node_key"])
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake(rogue_node, client_context(pki["ca"], pki["gw_cert"], pki["gw_key"]),
                        node_server_name("node-1"))


async def test_gateway_refuses_a_node_with_another_id(pki: dict[str, Path]) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="node-2.node.objectd"):
        await handshake(
            server_context(pki["ca"], pki["node_cert"], pki["node_key"]),
            client_context(pki["ca"], pki["gw_cert"], pki["gw_key"]),
            node_server_name("node-2"),
        )
