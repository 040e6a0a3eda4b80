"""Let a CPU training process reuse freed memory for its large tensors (glibc's malloc on Linux).

A training step allocates a few tensors of (tokens in the batch x vocabulary) floats: the logits, the loss's
softmax and its gradient, 30 to 40 MB each for a batch of 64 synopses and an 8,000-token vocabulary. glibc's malloc
serves blocks above its mmap threshold (at most 32 MB) with a fresh `mmap` and returns them with `munmap`, so every
step faults these pages in again; on the 2-core virtual machines this package is measured on, that made a
(1280 x 8000) subtraction 40 ms instead of 4 ms (examples/results/benchmark_peer_cpu/README.md). With
`M_MMAP_MAX = 0` every block comes from the heap, and a large `M_TRIM_THRESHOLD` keeps freed heap memory in the
process, so the next step reuses it. The process's memory then stays at its peak until it ends, which suits a
training run. This is the package's choice for its training programs (`bang-finetune`, `bang-train`,
`bang-pretrain` and the quickstart/evidence pipelines that call them), made once per process; elsewhere it does
nothing (another C library, another operating system).
"""

import ctypes
import ctypes.util
import sys

from transformers.utils import logging


logger = logging.get_logger(__name__)

# mallopt parameters of glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
KEPT_BYTES = 2**31 - 1  # the largest int mallopt takes: freed heap memory below 2 GiB is never given back

_applied: bool | None = None


def reuse_freed_memory() -> bool:
    """Sets glibc's `M_MMAP_MAX` to 0 and `M_TRIM_THRESHOLD` to `KEPT_BYTES` for this process (module docstring);
    returns whether glibc took both settings. Safe to call more than once and where glibc is absent (False)."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _applied = bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, KEPT_BYTES))
    logger.info(f"glibc malloc keeps freed memory for reuse (mallopt): {_applied}")
    return _applied


__all__ = ["reuse_freed_memory"]
