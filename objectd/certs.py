"""The cluster certificate authority and the TLS contexts of nodes and gateways.

Gateways and storage nodes authenticate each other with mutual TLS under one
cluster CA (``objectd certs init``), and trust nothing else: not the system's
CAs, not a certificate from another cluster. Names are fixed by role:

* a node's certificate names ``<node-id>.node.objectd`` (plus the addresses it
  is reached at) and is good for server authentication only;
* a gateway's certificate names ``<name>.gateway.objectd`` and is good for
  client authentication only.

So a node's stolen key cannot pose as a gateway to other nodes, and a gateway
that dials a node checks the certificate against the node id it expects
(:func:`node_server_name`), not against whatever answers at the address.

Keys are ECDSA P-256, written with mode 0600; the CA is valid for ten years,
issued certificates for five.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import secrets
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
NODE_DOMAIN = "node.objectd"
GATEWAY_DOMAIN = "gateway.objectd"
CA_DAYS = 3650
CERT_DAYS = 1825

# A node id or gateway name is one DNS label, so that it can sit in a
# certificate's DNS name: lower-case letters, digits and inner hyphens.
NAME = re.compile(r"\A[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")


@dataclass(frozen=True)
class CertFiles:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path


CaFiles = CertFiles
"""The cluster CA's certificate and key (``ca.crt``, ``ca.key``)."""


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a valid node id or gateway name, else raise ValueError."""
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(
            f"invalid {what} {name!r}: use 1-63 lower-case letters, digits and inner hyphens"
        )
    return name


def node_server_name(node_id: str) -> str:
    """The DNS name a node's certificate carries and a gateway checks: ``<id>.node.objectd``."""
    return f"{check_name(node_id, 'node id')}.{NODE_DOMAIN}"


def gateway_client_name(name: str) -> str:
    """The DNS name a gateway's certificate carries: ``<name>.gateway.objectd``."""
    return f"{check_name(name, 'gateway name')}.{GATEWAY_DOMAIN}"


def ca_cert_file(ca: str | Path) -> Path:
    """The CA certificate file given either the file or the CA folder."""
    path = Path(ca)
    return path / CA_CERT if path.is_dir() else path


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _write_file(path: Path, data: bytes, mode: int, replace: bool) -> None:
    """Write ``data`` with ``mode`` atomically (temporary name, fsync, rename)."""
    if path.exists() and not replace:
        raise FileExistsError(f"{path} exists")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def create_ca(ca_dir: str | Path, *, common_name: str = "objectd cluster CA",
              days: int = CA_DAYS) -> CaFiles:
    """Create a new cluster CA in ``ca_dir`` (``ca.crt``, ``ca.key``).

    Refuses (FileExistsError) when the folder already holds a CA: replacing it
    would cut every node and gateway of the cluster off.
    """
    folder = Path(ca_dir)
    files = CaFiles(folder / CA_CERT, folder / CA_KEY)
    if files.cert.exists() or files.key.exists():
        raise FileExistsError(f"{folder} already holds a CA")
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "objectd"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])
    now = _now()
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_file(files.key, _key_pem(key), 0o600, replace=False)
    _write_file(files.cert, _cert_pem(cert), 0o644, replace=False)
    return files


def load_ca(ca_dir: str | Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The CA certificate and key kept in ``ca_dir``."""
    folder = Path(ca_dir)
    cert = x509.load_pem_x509_certificate((folder / CA_CERT).read_bytes())
    key = serialization.load_pem_private_key((folder / CA_KEY).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{folder / CA_KEY} is not an ECDSA key")
    return cert, key


def _general_names(names: Sequence[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    seen: set[str] = set()
    for host in names:
        host = host.strip().strip("[]")
        if not host or host in seen:
            continue
        seen.add(host)
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            out.append(x509.DNSName(host))
    return out


def _issue(ca_dir: str | Path, common_name: str, names: Sequence[str], usage: x509.ObjectIdentifier,
           out: CertFiles, days: int, replace: bool) -> CertFiles:
    if not replace and (out.cert.exists() or out.key.exists()):
        raise FileExistsError(f"{out.cert} exists")
    ca_cert, ca_key = load_ca(ca_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    now = _now()
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "objectd"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + datetime.timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_general_names(names)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    out.cert.parent.mkdir(parents=True, exist_ok=True)
    _write_file(out.key, _key_pem(key), 0o600, replace=replace)
    _write_file(out.cert, _cert_pem(cert), 0o644, replace=replace)
    return out


def issue_node_cert(ca_dir: str | Path, node_id: str, hosts: Sequence[str] = (),
                    out_dir: str | Path | None = None, *, days: int = CERT_DAYS,
                    replace: bool = False) -> CertFiles:
    """Issue node ``node_id``'s server certificate, written to
    ``out_dir/<node_id>.crt`` and ``.key`` (``out_dir`` defaults to the CA folder).

    It names ``<node_id>.node.objectd`` and every host (IP address or DNS
    name) in ``hosts``. Refuses to overwrite existing files unless ``replace``.
    """
    server_name = node_server_name(node_id)
    folder = Path(out_dir) if out_dir is not None else Path(ca_dir)
    out = CertFiles(folder / f"{node_id}.crt", folder / f"{node_id}.key")
    return _issue(ca_dir, server_name, [server_name, *hosts], ExtendedKeyUsageOID.SERVER_AUTH,
                  out, days, replace)


def issue_gateway_cert(ca_dir: str | Path, name: str, out_dir: str | Path | None = None, *,
                       days: int = CERT_DAYS, replace: bool = False) -> CertFiles:
    """Issue gateway ``name``'s client certificate, written to
    ``out_dir/<name>.crt`` and ``.key`` (``out_dir`` defaults to the CA folder).

    It names ``<name>.gateway.objectd`` and is good for client authentication only.
    """
    client_name = gateway_client_name(name)
    folder = Path(out_dir) if out_dir is not None else Path(ca_dir)
    out = CertFiles(folder / f"{name}.crt", folder / f"{name}.key")
    return _issue(ca_dir, client_name, [client_name], ExtendedKeyUsageOID.CLIENT_AUTH,
                  out, days, replace)


def cert_node_ids(cert_file: str | Path) -> list[str]:
    """The node ids a certificate names (its ``<id>.node.objectd`` DNS names)."""
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    suffix = f".{NODE_DOMAIN}"
    return [name.removesuffix(suffix) for name in san.get_values_for_type(x509.DNSName)
            if name.endswith(suffix) and NAME.match(name.removesuffix(suffix))]


def _harden(context: ssl.SSLContext, ca: str | Path, cert: str | Path, key: str | Path) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    # Only the cluster CA: contexts built from PROTOCOL_TLS_* load no system CAs.
    context.load_verify_locations(cafile=str(ca_cert_file(ca)))
    context.load_cert_chain(str(cert), str(key))
    return context


def server_context(ca: str | Path, cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """A node's TLS server context: presents the node's certificate and
    requires a client certificate issued by the cluster CA (``ca``: the CA
    file or folder). The handshake fails for anything else."""
    return _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), ca, cert, key)


def client_context(ca: str | Path, cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """A gateway's TLS client context: presents the gateway's certificate,
    trusts only the cluster CA and checks the host name, which callers set to
    :func:`node_server_name` of the node they mean to reach."""
    context = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), ca, cert, key)
    context.check_hostname = True
    return context
