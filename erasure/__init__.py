"""Stripes: segmenting, Reed-Solomon coding via pyeclib, fragment framing with
per-frame xxh3 checksums, and fragment encryption. Pure computation, no I/O."""

from erasure.codec import ErasureCodec
from erasure.errors import ErasureError, KeyUnwrapError, NotEnoughFragments, PieceCorrupt
from erasure.framing import FRAME_OVERHEAD, FrameHeader, frame, parse_header, unframe, verify_frames
from erasure.geometry import StripeGeometry
from erasure.key_wrap import new_data_key, unwrap_data_key, wrap_data_key
from erasure.layout import StripeLayout
from erasure.malloc_tuning import tune_malloc
from erasure.piece_cipher import CIPHER_OVERHEAD, PieceCipher
from erasure.stripe import SegmentResult, StripeDecoder, StripeEncoder

__all__ = [
    "CIPHER_OVERHEAD",
    "FRAME_OVERHEAD",
    "ErasureCodec",
    "ErasureError",
    "FrameHeader",
    "KeyUnwrapError",
    "NotEnoughFragments",
    "PieceCipher",
    "PieceCorrupt",
    "SegmentResult",
    "StripeDecoder",
    "StripeEncoder",
    "StripeGeometry",
    "StripeLayout",
    "frame",
    "new_data_key",
    "parse_header",
    "tune_malloc",
    "unframe",
    "unwrap_data_key",
    "verify_frames",
    "wrap_data_key",
]
