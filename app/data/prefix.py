"""What was read of a data file, block by block, to tell an append from a rewrite in place.

A file's bytes already read are kept as the CRC-32 of each 64 KiB block (1,600 numbers for
a 100 MB file). The appended bytes that are read anyway extend them, so keeping them costs
no extra read. When the file has changed (its size or times), the blocks are read again
and compared before anything new is taken for an append:

- the first block and the last 4 KiB read (the seam), every time: a file truncated and
  regrown, or whose end was rewritten, always differs there;
- every block when the file kept its size (an edit in place, or a ``touch``) or when what
  was read is at most ``WHOLE_BYTES``;
- otherwise ``SCRUB_BYTES`` more in rotation at each change, so an edit in the middle of a
  file that also grew is found within (size / ``SCRUB_BYTES``) changes.

Measured on this machine (2 loaded cores): reading and CRC-ing costs ~2 ms a MB, so a
100 MB file costs ~200 ms to compare whole; at every append (twice a second) that would be
40% of a core. Per change: ≤ 4 MB whole ≈ 8 ms; larger ≈ 1.2 MB ≈ 3 ms.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

BLOCK = 64 * 1024
SEAM = 4096  # the bytes before the end of what was read, always compared
WHOLE_BYTES = 4 * 1024 * 1024  # what was read, up to this, is compared whole every time
SCRUB_BYTES = 1024 * 1024  # of more, this much more in rotation at every change
READ_CHUNK = 16 * BLOCK  # bytes read at once when comparing
Reader = Callable[[int, int], bytes]  # (size, offset) -> bytes, like os.pread


@dataclass
class Prefix:
    """CRC-32 of each ``BLOCK`` of a file's first ``size`` bytes (the last may be short)."""

    size: int = 0
    blocks: list[int] = field(default_factory=list)
    scrub: int = 1  # the next block compared in rotation (block 0 is compared every time)

    @classmethod
    def of(cls, data: bytes) -> Prefix:
        """The blocks of ``data``, a file's first bytes."""
        prefix = cls()
        prefix.extend(data)
        return prefix

    def extend(self, data: bytes) -> None:
        """``data`` follows the bytes already counted (they were read, or written, next)."""
        view, size = memoryview(data), self.size
        if size % BLOCK and view:  # fill the short last block first
            room = BLOCK - size % BLOCK
            self.blocks[-1] = zlib.crc32(view[:room], self.blocks[-1])
            size += min(room, len(view))
            view = view[room:]
        for start in range(0, len(view), BLOCK):
            piece = view[start:start + BLOCK]
            self.blocks.append(zlib.crc32(piece))
            size += len(piece)
        self.size = size

    def differs(self, read: Reader, whole: bool = False) -> bool:
        """True if the file (``read(size, offset)``) no longer holds the bytes counted here.

        Compares the first block and the blocks of the seam always; every block if
        ``whole`` or if at most ``WHOLE_BYTES`` were counted; else the next
        ``SCRUB_BYTES`` in rotation.
        """
        count = len(self.blocks)
        if not count:
            return False
        seam_first = max(self.size - SEAM, 0) // BLOCK
        wanted = {0, *range(seam_first, count)}
        if whole or self.size <= WHOLE_BYTES:
            wanted = set(range(count))
        else:
            scrubbed = max(SCRUB_BYTES // BLOCK, 1)
            span = max(count - 1, 1)  # blocks 1..count-1 take turns
            for step in range(min(scrubbed, span)):
                wanted.add(1 + (self.scrub - 1 + step) % span)
            self.scrub = 1 + (self.scrub - 1 + scrubbed) % span
        return any(self._block_differs(read, first, last)
                   for first, last in _runs(sorted(wanted)))

    def _block_differs(self, read: Reader, first: int, last: int) -> bool:
        """Compare blocks ``first``..``last`` (inclusive), read in chunks."""
        block = first
        while block <= last:
            upto = min(last + 1, block + READ_CHUNK // BLOCK)
            start = block * BLOCK
            size = min(upto * BLOCK, self.size) - start
            data = read(size, start)
            if len(data) != size:
                return True  # the file is shorter now
            view = memoryview(data)
            for index in range(block, upto):
                offset = (index - block) * BLOCK
                if zlib.crc32(view[offset:offset + BLOCK]) != self.blocks[index]:
                    return True
            block = upto
        return False


def _runs(indexes: list[int]) -> list[tuple[int, int]]:
    """Sorted block numbers as (first, last) runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for index in indexes:
        if runs and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs
