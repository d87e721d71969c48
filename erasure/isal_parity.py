"""Reed-Solomon parity computed by ISA-L directly, into caller-owned memory.

pyeclib's ``encode`` copies the segment into aligned buffers, zero-fills,
encodes and copies every fragment out again into new bytes objects, all while
holding the GIL (about 190 µs per MiB here). For a full segment of a
systematic ISA-L backend the data fragments are the segment's own bytes behind
a header that depends only on the fragment index and the segment length, so the
same fragments can be built with one copy of the data and one parity
computation, both with the GIL released (ctypes releases it around every
foreign call).

The ISA-L library is the one pyeclib's wheel ships and liberasurecode loads, and
the encoding matrix is built the way liberasurecode builds it for the backend.
Nothing is assumed: :func:`IsalParity.probe` encodes test segments both ways and
only returns an encoder when every byte of every fragment agrees with pyeclib.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
from collections.abc import Callable, Sequence

_LIBRARY_PATTERN = "libisal*.so*"

# liberasurecode's ISA-L backends and the ISA-L function that makes their
# encoding matrix (rows k.. are the parity coefficients).
_MATRIX_FUNCTIONS = {
    "isa_l_rs_vand": "gf_gen_rs_matrix",
    "isa_l_rs_cauchy": "gf_gen_cauchy1_matrix",
}


@functools.cache
def _load_isal() -> ctypes.CDLL | None:
    """The ISA-L library bundled with pyeclib, or None when there is none."""
    try:
        import pyeclib
    except ImportError:
        return None
    package = os.path.dirname(os.path.abspath(pyeclib.__file__))
    candidates = sorted(glob.glob(os.path.join(package, os.pardir, "pyeclib.libs", _LIBRARY_PATTERN)))
    candidates += sorted(glob.glob(os.path.join(package, _LIBRARY_PATTERN)))
    for path in candidates:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        if all(hasattr(library, name) for name in ("ec_init_tables", "ec_encode_data")):
            return library
    return None


class IsalParity:
    """Builds the k + m fragments of a full segment in one reusable buffer.

    Fragment i occupies ``buffer[i * fragment_size : (i + 1) * fragment_size]``:
    the header pyeclib gives fragment i of a segment this long, then the block
    (data blocks are the segment's bytes, parity blocks ISA-L's output). One
    instance per stream; not thread-safe, and the views :meth:`encode` returns
    are valid only until its next call.
    """

    def __init__(
        self,
        library: ctypes.CDLL,
        k: int,
        m: int,
        segment_len: int,
        fragment_size: int,
        headers: Sequence[bytes],
        tables: ctypes.Array[ctypes.c_ubyte],
    ) -> None:
        self.k = k
        self.m = m
        self.segment_len = segment_len
        self.fragment_size = fragment_size
        self._header_size = len(headers[0])
        self._block = fragment_size - self._header_size
        self._headers = list(headers)
        self._tables = tables
        self._library = library
        self._encode_data: Callable[..., object] = library.ec_encode_data
        total = k + m
        self._buffer = bytearray(total * fragment_size)
        for index, header in enumerate(self._headers):
            start = index * fragment_size
            self._buffer[start : start + self._header_size] = header
        base = ctypes.addressof(ctypes.c_char.from_buffer(self._buffer))
        starts = [base + i * fragment_size + self._header_size for i in range(total)]
        pointer_array = ctypes.c_void_p * k
        self._data_ptrs = pointer_array(*starts[:k])
        self._parity_ptrs = (ctypes.c_void_p * m)(*starts[k:])
        self._views = [
            memoryview(self._buffer)[i * fragment_size : (i + 1) * fragment_size] for i in range(total)
        ]

    @classmethod
    def probe(
        cls,
        backend: str,
        k: int,
        m: int,
        segment_len: int,
        fragment_size: int,
        header_size: int,
        pyeclib_encode: Callable[[bytes], list[bytes]],
    ) -> IsalParity | None:
        """An encoder for full segments of ``segment_len`` bytes, or None when
        the backend is not an ISA-L one, the library is missing, the segment
        does not split into k equal blocks, or the result differs from
        pyeclib's in any byte."""
        matrix_function = _MATRIX_FUNCTIONS.get(backend)
        block = fragment_size - header_size
        if matrix_function is None or block * k != segment_len or block <= 0 or header_size <= 0:
            return None
        library = _load_isal()
        if library is None or not hasattr(library, matrix_function):
            return None
        total = k + m
        matrix = (ctypes.c_ubyte * (total * k))()
        getattr(library, matrix_function)(matrix, total, k)
        tables = (ctypes.c_ubyte * (32 * k * m))()
        parity_rows = ctypes.cast(ctypes.addressof(matrix) + k * k, ctypes.POINTER(ctypes.c_ubyte))
        library.ec_init_tables(k, m, parity_rows, tables)
        samples = [os.urandom(segment_len), bytes(segment_len), os.urandom(segment_len)]
        reference = [pyeclib_encode(sample) for sample in samples]
        headers = [bytes(fragment[:header_size]) for fragment in reference[0]]
        for fragments in reference[1:]:
            # The header must not depend on the data, or it cannot be reused.
            if [bytes(f[:header_size]) for f in fragments] != headers:
                return None
        encoder = cls(library, k, m, segment_len, fragment_size, headers, tables)
        for sample, fragments in zip(samples, reference):
            if [bytes(view) for view in encoder.encode(sample)] != fragments:
                return None
        return encoder

    def fork(self) -> IsalParity:
        """Another encoder with the same tables and headers and its own buffer
        (one per stream: the probe runs once per codec)."""
        return IsalParity(
            self._library, self.k, self.m, self.segment_len, self.fragment_size,
            self._headers, self._tables,
        )

    def encode(self, segment: bytes | bytearray | memoryview) -> list[memoryview]:
        """The k + m fragments of one full segment, as views into this
        encoder's buffer (valid until the next call)."""
        view = memoryview(segment).cast("B")
        if view.nbytes != self.segment_len:
            raise ValueError(f"segment of {view.nbytes} bytes, encoder is for {self.segment_len}")
        block = self._block
        if view.readonly and not (isinstance(view.obj, bytes) and view.nbytes == len(view.obj)):
            view = memoryview(bytes(view))  # a slice of read-only memory: its address is not at hand
        if view.readonly:
            # bytes: ctypes hands out the address of its own buffer; it is only read.
            keep: object = ctypes.c_char_p(view.obj)
            source = ctypes.cast(keep, ctypes.c_void_p).value or 0
        else:
            keep = ctypes.c_char.from_buffer(view)
            source = ctypes.addressof(keep)
        # Each data block goes behind its header; ctypes releases the GIL
        # around both the copies and the parity computation.
        for index, target in enumerate(self._data_ptrs):
            ctypes.memmove(target, source + index * block, block)
        del keep
        self._encode_data(block, self.k, self.m, self._tables, self._data_ptrs, self._parity_ptrs)
        return self._views
