"""Output sinks: ``write`` queues whole NDJSON lines, ``flush`` delivers them or raises with the rest queued.

The follower checkpoints only what a sink has delivered, so a sink keeps every byte it could not deliver,
never writes a byte twice, and leaves a file it owns holding whole lines only. ``write`` does no I/O and
cannot fail; callers flush at their checkpoints, and a batch writer whenever ``pending`` passes 64 KiB.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import select
import socket
import stat
import struct
import sys
import termios
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import BinaryIO

from auditproc.syslog import DEFAULT_FACILITY, FACILITIES, SyslogFormat

Say = Callable[[str], None]
ShouldStop = Callable[[], bool]

PIPE_BUF_BYTES = 4096  # Linux: a pipe that polls writable has a free page, so this much cannot block
POLL_SLICE_MS = 100  # how often a flush waiting on a stuck reader asks should_stop
TAIL_CHUNK_BYTES = 65536  # read back this much at a time looking for a file's last newline
# JSON per syslog message: with its RFC 5424 header (under 320 bytes) it fits one UDP datagram (65,507).
SYSLOG_MAX_MESSAGE_BYTES = 60_000
SYSLOG_QUEUE_BYTES = 8 << 20  # messages a syslog sink holds while undelivered; beyond, the oldest go
SYSLOG_DEFAULT_PORT = 514
CONNECT_TIMEOUT_S = 5.0

# Errors that may pass while the process keeps running: the data stays queued for a later flush.
_RETRYABLE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN, errno.ENOBUFS})
_GONE = frozenset({errno.EPIPE, errno.ECONNRESET})
_ADVICE = {
    errno.ENOENT: "create the directory or choose another --output",
    errno.ENOTDIR: "create the directory or choose another --output",
    errno.EACCES: "let auditproc read and write it, or choose another --output",
    errno.EPERM: "let auditproc read and write it, or choose another --output",
    errno.EISDIR: "name a file, not a directory, in --output",
    errno.EROFS: "the filesystem is read-only: choose another --output",
    errno.ENXIO: "start the process that reads this FIFO first",
    errno.ENOSPC: "free space on that filesystem",
    errno.EDQUOT: "raise the quota or free space",
    errno.EIO: "check the device",
    errno.EAGAIN: "the destination is busy",
    errno.ENOBUFS: "the destination is busy",
    errno.EPIPE: "the reader went away; nothing more can be delivered",
    errno.ECONNRESET: "the reader went away; nothing more can be delivered",
}


class SinkError(Exception):
    """A destination that did not take output; the message names it and says what to do."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class ConsumerGone(SinkError):
    """The reader of a pipe or socket went away (EPIPE): nothing more can be delivered."""


class OutputBlocked(SinkError):
    """``should_stop`` asked to stop while the destination was not taking data; the rest stays queued."""


def _error(name: str, doing: str, exc: OSError) -> SinkError:
    code = exc.errno or 0
    kind = ConsumerGone if code in _GONE else SinkError
    advice = _ADVICE.get(code, "check the destination or choose another --output")
    return kind(f"{name}: cannot {doing}: {os.strerror(code)}: {advice}", retryable=code in _RETRYABLE)


def _silent(_message: str) -> None:
    pass


class Sink:
    """Queues whole NDJSON lines; ``flush`` writes them all to one file descriptor or raises."""

    max_message_bytes: int | None = None  # the longest line this destination takes by default (None: any)

    def __init__(self, name: str, should_stop: ShouldStop | None = None) -> None:
        self.name = name
        self.should_stop = should_stop
        self._queue = bytearray()
        self._fd = -1
        self._pipe = False  # a pipe, FIFO or socket: a reader that stops reading could block a write
        self._pipe_size = 0

    @property
    def pending(self) -> int:
        """Bytes queued but not yet delivered."""
        return len(self._queue)

    def write(self, data: bytes) -> None:
        """Queue ``data``, whole lines; no I/O, so nothing can fail here."""
        self._queue += data

    def flush(self, should_stop: ShouldStop | None = None) -> None:
        """Return once every queued byte was handed to the destination (write(2) done); else raise
        SinkError, with the undelivered bytes still queued for the next flush."""
        if not self._queue:
            return
        self._prepare()
        stop = should_stop or self.should_stop
        sent = 0
        try:
            while sent < len(self._queue):
                sent += self._write_some(sent, stop)
        except OSError as exc:
            del self._queue[: self._delivered_after_failure(sent)]
            raise _error(self.name, "write", exc) from None
        except OutputBlocked:
            del self._queue[:sent]
            raise
        self._queue.clear()

    def close(self) -> None:
        """Let go of the destination; queued bytes are not delivered (flush first)."""

    def reopen(self) -> None:
        """Open the destination again (SIGHUP after log rotation); a no-op where there is nothing to reopen."""

    def _attach(self, fd: int) -> os.stat_result:
        info = os.fstat(fd)
        self._fd = fd
        self._pipe = stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode)
        try:
            self._pipe_size = fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) if self._pipe else 0
        except OSError:  # a socket
            self._pipe_size = 0
        return info

    def _prepare(self) -> None:
        """Get the destination ready before a flush writes to it."""

    def _delivered_after_failure(self, sent: int) -> int:
        """How many of the ``sent`` bytes stay delivered after a failed write."""
        return sent

    def _write_some(self, offset: int, stop: ShouldStop | None) -> int:
        with memoryview(self._queue)[offset:] as view:  # released before flush resizes the queue
            if not self._pipe:
                return os.write(self._fd, view)
            # A blocking write to a stuck reader would never return, and Python retries one interrupted
            # by a signal (PEP 475): wait in slices instead and write only what fits.
            poller = select.poll()
            poller.register(self._fd, select.POLLOUT)
            while not poller.poll(POLL_SLICE_MS):
                if stop is not None and stop():
                    raise OutputBlocked(f"{self.name}: the reader is not taking output: stopped with "
                                        f"{len(view)} bytes undelivered", retryable=True)
            room = min(len(view), self._room())
            whole = self._queue.rfind(b"\n", offset, offset + room) + 1 - offset
            try:  # whole lines when they fit, so a reader left behind by a stop sees no torn line
                return os.write(self._fd, view[: whole if whole > 0 else room])
            except BlockingIOError:  # a FIFO opened non-blocking that another writer filled meanwhile
                return 0

    def _room(self) -> int:
        """Free bytes in the pipe (size less what it holds); at least a page when it polled writable."""
        if not self._pipe_size:
            return PIPE_BUF_BYTES
        try:
            held = struct.unpack("i", fcntl.ioctl(self._fd, termios.FIONREAD, b"\0\0\0\0"))[0]
        except OSError:
            return PIPE_BUF_BYTES
        return max(self._pipe_size - held, PIPE_BUF_BYTES)


class StreamSink(Sink):
    """Writes to a file descriptor it was given (stdout by default) and leaves it open.

    A reader that stops reading keeps flush waiting until ``should_stop`` says to stop; what it was
    given is whole lines, but for a line longer than the pipe's free space, which goes in parts. A regular
    file behind the descriptor is not cut back after a failed write: the rest of the line comes later."""

    def __init__(self, fd: int = 1, should_stop: ShouldStop | None = None) -> None:
        super().__init__("stdout" if fd == 1 else f"file descriptor {fd}", should_stop)
        self._attach(fd)


class _ObjectSink(Sink):
    """Writes to a Python binary stream that has no file descriptor (stdout inside a test harness)."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__("stdout")
        self._stream = stream

    def flush(self, should_stop: ShouldStop | None = None) -> None:
        """Hand the queue to the stream."""
        self._stream.write(self._queue)
        self._stream.flush()
        self._queue.clear()


def _stdout(should_stop: ShouldStop | None) -> Sink:
    stream = sys.stdout.buffer
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return _ObjectSink(stream)
    stream.flush()  # anything written through it before goes first
    sink = StreamSink(fd, should_stop)
    sink.name = "stdout"  # whatever descriptor it is (a test harness's capture has another)
    return sink


class FileSink(Sink):
    """Appends to ``path`` (created 0600), follows it to a new file when it is renamed or deleted, and
    keeps whole lines only: a torn last line is cut on open, a partly written line after a failed write."""

    def __init__(self, path: str | os.PathLike[str], say: Say = _silent,
                 should_stop: ShouldStop | None = None) -> None:
        super().__init__(os.fspath(path), should_stop)
        self.path = os.fspath(path)
        self._say = say
        self._identity = (0, 0)
        self._regular = False
        self._size_before = 0  # the file's size when the current flush began
        self._open()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def reopen(self) -> None:
        self.close()
        self._open()

    def _open(self) -> None:
        flags = os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            # Read access finds a torn last line; but opening a FIFO for reading would end its reader's
            # wait in open() with an immediate end of file. O_NONBLOCK: no open() that waits for a reader.
            fifo = stat.S_ISFIFO(os.stat(self.path).st_mode) if os.path.exists(self.path) else False
            fd = os.open(self.path, flags | (os.O_WRONLY if fifo else os.O_RDWR), 0o600)
        except OSError as exc:
            raise _error(self.name, "open", exc) from None
        try:
            info = self._attach(fd)
            self._regular = stat.S_ISREG(info.st_mode)
            if not self._pipe:
                os.set_blocking(fd, True)
            if self._regular:
                self._cut_torn_tail(info.st_size)
        except OSError as exc:
            os.close(fd)
            self._fd = -1
            raise _error(self.name, "open", exc) from None
        self._identity = (info.st_dev, info.st_ino)

    def _cut_torn_tail(self, size: int) -> None:
        """An earlier run that died mid-write left a line without its end: it was never checkpointed,
        so it will be written again whole; cut it away."""
        end = size
        while end > 0:
            start = max(0, end - TAIL_CHUNK_BYTES)
            newline = os.pread(self._fd, end - start, start).rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        if end < size:
            os.ftruncate(self._fd, end)
            self._say(f"{self.path}: cut a torn last line of {size - end} bytes left by an earlier run; "
                      "it is written again whole")

    def _prepare(self) -> None:
        if self._fd < 0:  # a reopen or a truncation failed: try again now
            self._open()
        try:
            info = os.stat(self.path)
            moved = (info.st_dev, info.st_ino) != self._identity
        except OSError:
            moved = True
        if moved:  # logrotate without copytruncate, or a delete
            self._say(f"{self.path} was renamed or deleted: writing to a new file at that path")
            self.reopen()
        try:
            self._size_before = os.fstat(self._fd).st_size
        except OSError as exc:
            raise _error(self.name, "write", exc) from None

    def _delivered_after_failure(self, sent: int) -> int:
        """Cut the file back to the end of the last whole line written; the line in progress stays queued."""
        if not self._regular:
            return sent  # a FIFO or a device cannot take bytes back
        whole = self._queue.rfind(b"\n", 0, sent) + 1
        try:
            os.ftruncate(self._fd, self._size_before + whole)
        except OSError:
            self.close()  # the next flush reopens the file, which cuts the torn line
        return whole


class Transport(Enum):
    """How a syslog sink reaches its daemon, and how messages are framed there."""

    UDP = "udp"  # one message per datagram
    TCP = "tcp"  # RFC 5425 octet counting: LEN SP MSG
    UNIX = "unix"  # a datagram socket (/dev/log), or a stream socket with one message per line


_NETWORK_ADVICE = {
    errno.ECONNREFUSED: "is the syslog daemon listening there?",
    errno.ENOENT: "is the syslog daemon running? (its socket is missing)",
    errno.EMSGSIZE: "lower --max-message-bytes",
}


class SyslogSink(Sink):
    """Sends each queued line as one RFC 5424 message to a syslog daemon (``syslog+udp|tcp|unix://``).

    ``flush`` returns once every message was handed to the socket (send done). A broken connection is a
    retryable SinkError: the next flush connects again and sends the message it was in whole. While the
    daemon takes nothing, at most SYSLOG_QUEUE_BYTES of messages wait: beyond that the oldest are dropped,
    counted and said. Over UDP nobody listening is not an error (as logger(1)): the datagrams are lost."""

    max_message_bytes = SYSLOG_MAX_MESSAGE_BYTES

    def __init__(self, name: str, transport: Transport, address: str | tuple[str, int], syslog: SyslogFormat,
                 say: Say = _silent, should_stop: ShouldStop | None = None) -> None:
        super().__init__(name, should_stop)
        self.transport, self.address, self.syslog = transport, address, syslog
        self.dropped = 0  # messages dropped, all told
        self._say = say
        self._messages: deque[bytes] = deque()  # unframed, oldest first
        self._queued = 0
        self._dropping = 0  # dropped since the last delivery
        self._sock: socket.socket | None = None
        self._stream = False
        self._target: object = None  # where an unconnected UDP socket sends
        self._head = b""  # the first message as framed on the current connection
        self._sent = 0  # bytes of ``_head`` already sent

    @property
    def pending(self) -> int:
        return self._queued

    def write(self, data: bytes) -> None:
        for line in data.split(b"\n"):
            if line:
                message = self.syslog.message(line)
                self._messages.append(message)
                self._queued += len(message)
        while self._queued > SYSLOG_QUEUE_BYTES and len(self._messages) > 1:
            self._drop_oldest()

    def flush(self, should_stop: ShouldStop | None = None) -> None:
        stop = should_stop or self.should_stop
        while self._messages:
            try:
                if self._sock is None:
                    self._connect()
                elif not self._sent and self._stream and self._peer_closed():
                    self.close()  # send() would still succeed into a dead connection's buffer
                    continue
                self._send_head(stop)
            except OSError as exc:
                self.close()
                code = exc.errno or 0
                advice = _NETWORK_ADVICE.get(code, "check the daemon and the network")
                if code != errno.EMSGSIZE:
                    raise SinkError(f"{self.name}: cannot send: {os.strerror(code)}: {advice}",
                                    retryable=True) from None
                # This message can never go: drop it rather than hold back the rest.
                self.dropped += 1
                self._say(f"{self.name}: dropped a message of {len(self._messages[0])} bytes: "
                          f"{os.strerror(code)}: {advice}")
            self._queued -= len(self._messages.popleft())
            self._head, self._sent = b"", 0
        if self._dropping:
            self._say(f"{self.name}: delivering again; {self._dropping} messages were dropped meanwhile")
            self._dropping = 0

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._head, self._sent = b"", 0

    def reopen(self) -> None:
        self.close()  # the next flush connects again (a daemon restarted, a name that resolves elsewhere)

    def _drop_oldest(self) -> None:
        if self._sent:  # half sent on a stream: the daemon must never see a torn frame
            self.close()
        self._queued -= len(self._messages.popleft())
        self.dropped += 1
        if not self._dropping:
            self._say(f"{self.name}: not taking messages and {SYSLOG_QUEUE_BYTES >> 20} MiB are waiting: "
                      "dropping the oldest (counted)")
        self._dropping += 1

    def _connect(self) -> None:
        if self.transport is Transport.UNIX:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            try:
                sock.connect(self.address)
            except OSError as exc:
                sock.close()
                if exc.errno != errno.EPROTOTYPE:
                    raise
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
                try:
                    sock.connect(self.address)
                except OSError:
                    sock.close()
                    raise
        elif self.transport is Transport.TCP:
            sock = socket.create_connection(self.address, timeout=CONNECT_TIMEOUT_S)  # type: ignore[arg-type]
        else:
            host, port = self.address
            family, kind, proto, _, self._target = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
            sock = socket.socket(family, kind | socket.SOCK_CLOEXEC, proto)
        sock.setblocking(False)
        self._sock = sock
        self._stream = sock.type == socket.SOCK_STREAM

    def _peer_closed(self) -> bool:
        try:
            return self._sock.recv(1, socket.MSG_PEEK) == b""  # type: ignore[union-attr]
        except BlockingIOError:
            return False

    def _send_head(self, stop: ShouldStop | None) -> None:
        """Send the first message whole (the rest of it, on a stream), waiting in slices for room."""
        sock = self._sock
        assert sock is not None
        if not self._head:
            message = self._messages[0]
            if self.transport is Transport.TCP:
                self._head = b"%d %s" % (len(message), message)
            else:
                self._head = message + b"\n" if self._stream else message
        poller = select.poll()
        poller.register(sock, select.POLLOUT)
        while self._sent < len(self._head):
            while not poller.poll(POLL_SLICE_MS):
                if stop is not None and stop():
                    raise OutputBlocked(f"{self.name}: the syslog daemon is not taking messages: stopped with "
                                        f"{len(self._messages)} undelivered", retryable=True)
            try:
                if self._target is not None:
                    sock.sendto(self._head, self._target)
                    self._sent = len(self._head)
                else:
                    self._sent += sock.send(memoryview(self._head)[self._sent:])
            except BlockingIOError:
                continue


_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*)://(.*)", re.DOTALL)
# Destinations named by URL, by scheme: each opener takes the rest of the URL.
_OPENERS: dict[str, Callable[[str, Say, ShouldStop | None], Sink]] = {
    "file": lambda rest, say, stop: FileSink(rest, say, stop),
    "syslog+udp": lambda rest, say, stop: _syslog_sink(Transport.UDP, rest, say, stop),
    "syslog+tcp": lambda rest, say, stop: _syslog_sink(Transport.TCP, rest, say, stop),
    "syslog+unix": lambda rest, say, stop: _syslog_sink(Transport.UNIX, rest, say, stop),
}


def _syslog_sink(transport: Transport, rest: str, say: Say, stop: ShouldStop | None) -> SyslogSink:
    """``host:port`` (port 514 by default) or, for unix, a path; ``?facility=NAME`` (default local0)."""
    name = f"syslog+{transport.value}://{rest}"
    where, _, query = rest.partition("?")
    options = dict(item.partition("=")[::2] for item in query.split("&") if item)
    facility = options.pop("facility", DEFAULT_FACILITY)
    if options or facility not in FACILITIES:
        raise SinkError(f"{name}: the only option is ?facility= one of {', '.join(FACILITIES)}", retryable=False)
    address: str | tuple[str, int]
    if transport is Transport.UNIX:
        if not where:
            raise SinkError(f"{name}: expected syslog+unix:///PATH/OF/SOCKET", retryable=False)
        address = where
    else:
        host, colon, port = where.rpartition(":")
        if not colon:
            host, port = where, str(SYSLOG_DEFAULT_PORT)
        host = host.removeprefix("[").removesuffix("]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SinkError(f"{name}: expected syslog+{transport.value}://HOST:PORT", retryable=False)
        address = (host, int(port))
    return SyslogSink(name, transport, address, SyslogFormat(FACILITIES[facility], socket.gethostname(), os.getpid()),
                      say, stop)


def open_sink(spec: str | None, say: Say = _silent, should_stop: ShouldStop | None = None) -> Sink:
    """The sink an ``--output`` value names: stdout for None or "-", a URL by its scheme, else a file."""
    if spec is None or spec == "-":
        return _stdout(should_stop)
    url = _SCHEME.fullmatch(spec)
    if url is None:
        return FileSink(spec, say, should_stop)
    opener = _OPENERS.get(url.group(1))
    if opener is None:
        known = ", ".join(f"{scheme}://" for scheme in _OPENERS)
        raise SinkError(f"{spec}: unknown output scheme {url.group(1)}://: use a file path, '-' for stdout "
                        f"or one of {known}", retryable=False)
    return opener(url.group(2), say, should_stop)
