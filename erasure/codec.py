"""Reed-Solomon encoding and decoding of one segment, via pyeclib.

Fragments are pyeclib's own format: a fixed-size header followed by the
fragment's block. For systematic backends data fragment i's block is bytes
``i*B .. (i+1)*B`` of the segment (zero padded at the end), which lets a small
ranged read fetch one or two data fragments and slice them, with no decoding.
Whether a backend really lays data out that way is probed when the codec is
built, never assumed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from pyeclib.ec_iface import ECDriver, ECDriverError, ECInsufficientFragments

from erasure.errors import NotEnoughFragments, PieceCorrupt
from erasure.isal_parity import IsalParity
from erasure.layout import StripeLayout


class ErasureCodec:
    """Encodes a segment into k + m fragments and decodes it back from any k.

    One instance per layout, shared by every stream written with that layout.
    Segments are 1 to ``layout.segment_size`` bytes long: the empty stream has
    no segments, so ``encode`` refuses empty input rather than relying on how a
    backend treats it.
    """

    def __init__(self, layout: StripeLayout) -> None:
        self.layout = layout
        try:
            self._driver = ECDriver(k=layout.k, m=layout.m, ec_type=layout.backend)
        except ECDriverError as exc:
            raise ValueError(f"erasure backend {layout.backend!r} unusable: {exc}") from exc
        self._full_fragment_size = self._measure_fragment_size(layout.segment_size)
        self.header_size = self._probe_header_size()
        """Bytes of pyeclib header before a fragment's block (payload offset)."""
        self.is_systematic = self._probe_systematic()
        """True when data fragments carry the segment verbatim (see data_extent)."""
        self._full_segment_parity: IsalParity | None = None
        self._full_segment_probed = False
        self._probe_lock = threading.Lock()

    @property
    def k(self) -> int:
        """Data fragments per segment."""
        return self.layout.k

    @property
    def m(self) -> int:
        """Parity fragments per segment."""
        return self.layout.m

    def close(self) -> None:
        """Release the backend instance."""
        self._driver.close()

    def fragment_size(self, segment_len: int) -> int:
        """Exact size in bytes of each of the k + m fragments ``encode``
        produces for a segment of ``segment_len`` bytes (header included)."""
        if segment_len == self.layout.segment_size:
            return self._full_fragment_size
        if not 0 <= segment_len <= self.layout.segment_size:
            raise ValueError(f"segment length {segment_len} outside 0..{self.layout.segment_size}")
        return self._measure_fragment_size(segment_len)

    def encode(self, segment: bytes | bytearray | memoryview) -> list[bytes]:
        """Encode one segment into k data then m parity fragments."""
        # pyeclib accepts only bytes; other buffers are copied once here.
        data = segment if type(segment) is bytes else bytes(segment)
        if not 1 <= len(data) <= self.layout.segment_size:
            raise ValueError(f"segment of {len(data)} bytes outside 1..{self.layout.segment_size}")
        return self._driver.encode(data)

    def full_segment_encoder(self) -> IsalParity | None:
        """A fresh encoder for full segments that builds the same fragments as
        :meth:`encode` with fewer copies and without holding the GIL, or None
        when the backend has none (see ``erasure.isal_parity``). One per
        stream: its output is valid only until its next call."""
        with self._probe_lock:
            # Streams on other threads wait for the probe rather than take "none".
            if not self._full_segment_probed:
                size = self.layout.segment_size
                self._full_segment_parity = IsalParity.probe(
                    self.layout.backend, self.k, self.m, size, self.fragment_size(size),
                    self.header_size, self._driver.encode,
                )
                self._full_segment_probed = True
        return self._full_segment_parity.fork() if self._full_segment_parity is not None else None

    def decode(
        self, fragments: Mapping[int, bytes | bytearray | memoryview], segment_len: int
    ) -> bytes:
        """Rebuild a segment of ``segment_len`` bytes from any k or more of its
        fragments, keyed by fragment index.

        Raises ``NotEnoughFragments`` with fewer than k, and ``PieceCorrupt``
        when the fragments are inconsistent (wrong size, or pyeclib rejects them).
        A same-sized fragment of another segment is not detected here: pieces
        are verified before decoding (see ``erasure.stripe``).
        """
        expected = self.fragment_size(segment_len)
        total = self.layout.fragment_count
        if len(fragments) < self.k:
            raise NotEnoughFragments(
                self.k,
                good=fragments.keys(),
                bad=(),
                missing=(i for i in range(total) if i not in fragments),
            )
        payloads: list[bytes] = []
        for index, fragment in sorted(fragments.items()):
            if not 0 <= index < total:
                raise ValueError(f"fragment index {index} outside 0..{total - 1}")
            size = fragment.nbytes if isinstance(fragment, memoryview) else len(fragment)
            if size != expected:
                raise PieceCorrupt(f"fragment {index} is {size} bytes, expected {expected}")
            # pyeclib aborts the process on anything but bytes.
            payloads.append(fragment if type(fragment) is bytes else bytes(fragment))
        try:
            data = self._driver.decode(payloads)
        except ECInsufficientFragments:
            raise NotEnoughFragments(
                self.k,
                good=fragments.keys(),
                bad=(),
                missing=(i for i in range(total) if i not in fragments),
            ) from None
        except ECDriverError as exc:
            raise PieceCorrupt(f"fragments do not decode: {exc}") from exc
        if len(data) != segment_len:
            raise PieceCorrupt(f"fragments decode to {len(data)} bytes, expected {segment_len}")
        return data

    def data_extent(self, segment_len: int, frag_index: int) -> tuple[int, int]:
        """Which bytes of a segment data fragment ``frag_index`` carries, as
        (offset in segment, length). They sit at ``header_size`` in the fragment.

        The length is 0 for trailing data fragments of a short segment that
        hold only padding. Raises ``ValueError`` for a non-systematic backend
        (callers decode instead) or a parity fragment.
        """
        if not self.is_systematic:
            raise ValueError(f"backend {self.layout.backend!r} is not systematic")
        if not 0 <= frag_index < self.k:
            raise ValueError(f"fragment {frag_index} is not a data fragment (k={self.k})")
        block = self.fragment_size(segment_len) - self.header_size
        offset = min(frag_index * block, segment_len)
        return offset, min(block, segment_len - offset)

    def _measure_fragment_size(self, segment_len: int) -> int:
        info = self._driver.get_segment_info(segment_len, segment_len)
        return int(info["fragment_size"])

    def _probe_header_size(self) -> int:
        # With a segment that divides evenly the block holds no padding, so the
        # header is what remains of the fragment once the block is taken away.
        fragments = self._driver.encode(bytes(64 * self.k))
        metadata = self._driver.get_metadata(fragments[0], formatted=True)
        block = metadata.get("size") if isinstance(metadata, dict) else None
        if not isinstance(block, int):
            raise ValueError(f"backend {self.layout.backend!r} reports no fragment size")
        return len(fragments[0]) - block

    def _probe_systematic(self) -> bool:
        lengths = {1, 7 * self.k + 3, 1021 * self.k + 5, self.layout.segment_size}
        for length in sorted(n for n in lengths if n <= min(self.layout.segment_size, 1 << 16)):
            segment = os.urandom(length)
            fragments = self._driver.encode(segment)
            if len(fragments[0]) != self.fragment_size(length):
                return False
            block = self.fragment_size(length) - self.header_size
            carried = b"".join(
                memoryview(fragments[i])[self.header_size : self.header_size + block]
                for i in range(self.k)
            )
            if carried[:length] != segment:
                return False
        return True
