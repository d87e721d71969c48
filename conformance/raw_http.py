"""Plain HTTP requests to the endpoint, for what boto3 will not send as is
(presigned URLs, hand-framed aws-chunked bodies, tampered signatures)."""

from __future__ import annotations

import http.client
import ssl
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from conformance.endpoint import Endpoint

TIMEOUT = 60.0


@dataclass(frozen=True)
class RawResponse:
    """A response as received: status, headers (lower-case names), body."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def error_code(self) -> str | None:
        """The ``<Code>`` of an S3 ``<Error>`` body, or None when there is none."""
        try:
            root = ET.fromstring(self.body)
        except ET.ParseError:
            return None
        code = root.find("Code")
        return code.text if root.tag == "Error" and code is not None else None

    def describe(self) -> str:
        """Status and error code, for failure reasons."""
        return f"{self.status} {self.error_code or ''}".strip()


def _connection(endpoint: Endpoint) -> http.client.HTTPConnection:
    if endpoint.tls:
        context = ssl.create_default_context(cafile=endpoint.ca_bundle)
        return http.client.HTTPSConnection(endpoint.hostname, endpoint.port, context=context, timeout=TIMEOUT)
    return http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=TIMEOUT)


def send(endpoint: Endpoint, method: str, target: str, headers: dict[str, str] | None = None,
         body: bytes = b"") -> RawResponse:
    """Send one request with ``target`` (path and query, encoded) exactly as given."""
    conn = _connection(endpoint)
    try:
        conn.putrequest(method, target, skip_host="host" in (headers or {}), skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body or method in ("PUT", "POST"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        response = conn.getresponse()
        data = response.read()
        return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


def send_url(endpoint: Endpoint, method: str, url: str, body: bytes = b"",
             headers: dict[str, str] | None = None) -> RawResponse:
    """Send a full URL (a presigned one) to the endpoint as given."""
    parts = urllib.parse.urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return send(endpoint, method, target, headers, body)
