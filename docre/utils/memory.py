"""Keep a long prediction run's resident memory flat.

glibc's ``malloc`` serves blocks above its mmap threshold with ``mmap`` (returned to the system on
``free``) and smaller ones from its heap (kept). The threshold starts at 128 KiB and rises with every
large block freed, up to 32 MiB, so after a few batches the encoder's activations (a few MiB each,
a different size for every batch of documents) come from the heap, and the heap fragments: measured
on ``docre predict`` over replicated Re-DocRED documents (a 1-layer MiniLM, chunks of 256), resident
memory climbed from 0.6 GB to 1.4 GB over the first 2,000 documents and stayed there. A fixed
threshold of 4 MiB (which also stops it rising) kept it at 0.53-0.60 GB over the same documents at the
same speed. :func:`bound_heap` sets that threshold; ``DOCRE_MMAP_THRESHOLD`` (bytes, ``0`` = leave
glibc's default) changes it. Nothing happens on a system without glibc.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

logger = logging.getLogger("docre")

#: glibc's ``M_MMAP_THRESHOLD`` parameter number (``malloc.h``)
M_MMAP_THRESHOLD = -3
DEFAULT_MMAP_THRESHOLD = 4 << 20


def mmap_threshold_from_env() -> int:
    raw = os.environ.get("DOCRE_MMAP_THRESHOLD", "").strip()
    if not raw:
        return DEFAULT_MMAP_THRESHOLD
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"DOCRE_MMAP_THRESHOLD must be a number of bytes (0 to keep malloc's default), got {raw!r}")
    if value < 0:
        raise ValueError(f"DOCRE_MMAP_THRESHOLD must be >= 0, got {value}")
    return value


def bound_heap(threshold: int | None = None) -> bool:
    """Serve allocations of ``threshold`` bytes or more with mmap from now on (glibc only).

    Returns whether the threshold was set: False without glibc, or with ``threshold`` 0."""
    threshold = mmap_threshold_from_env() if threshold is None else threshold
    if threshold <= 0:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl without mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, int(threshold)) == 1
    if not ok:
        logger.debug("mallopt(M_MMAP_THRESHOLD, %d) refused", threshold)
    return ok
