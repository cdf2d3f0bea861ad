"""The live record stream on stdin: what auditd's dispatcher hands a plugin (``follow -``).

auditd writes each record to the plugin's stdin as one line (``format = string``) and owns the
queue: there is no file to checkpoint or to re-read. Reads never block longer than the timeout
asked for, so the follow loop completes idle events and notices signals while input is quiet.
"""

from __future__ import annotations

import os
import select

from auditproc.sources import DEFAULT_MAX_LINE_BYTES
from auditproc.tail import LineState, Position, split_lines

READ_BLOCK_BYTES = 1 << 20


class StreamFollower:
    """Complete lines of a stream (stdin by default) as they arrive, until end of input."""

    def __init__(self, fd: int = 0, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.fd = fd
        self.max_line_bytes = max_line_bytes
        self.at_end = False
        self._state = LineState(1, 0)
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    def read(self, timeout: float) -> list[tuple[bytes, Position]]:
        """Complete lines available within ``timeout`` seconds; at end of input, the rest."""
        out: list[tuple[bytes, Position]] = []
        if self.at_end or not self._poll.poll(timeout * 1000):
            return out
        data = os.read(self.fd, READ_BLOCK_BYTES)
        if data:
            split_lines(self._state, data, out, self.max_line_bytes)
            return out
        self.at_end = True
        state = self._state
        if state.pending and not state.skipping:  # a last line without its newline
            out.append((state.pending, (state.number, state.offset)))
        return out

    def wake(self) -> None:
        """Signals are noticed within one read timeout; nothing to interrupt."""

    def close(self) -> None:
        """Leave stdin to its owner."""
