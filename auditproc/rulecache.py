"""The rule cache: what each rule file's bytes loaded to, as JSON data, so a restart skips the parsing.

One file per rule set (the sources named and the load options), holding one entry per rule file
keyed by the SHA-256 of its bytes, under a key of everything else the outcome depends on (the
code). Entries are plain data (strings, numbers, lists, and dataclasses named from a fixed list):
reading one builds values and runs nothing. The cache decides which rules run, so
it is trusted like the rule files: a file or directory that another user owns or may write is not
read (SECURITY.md). A missing, unreadable, corrupt or stale cache is rebuilt, never an error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import auditproc
from auditproc.ownfiles import why_untrusted, write_atomically

CACHE_FORMAT = 1
MAX_CACHE_BYTES = 64 << 20  # a bigger file is not ours: ignored
TYPE_KEY = "@"  # names a dataclass in the data form
NO_CACHE_ENV = "AUDITPROC_NO_CACHE"  # set (non-empty): load rules without the cache


def default_cache_dir() -> Path:
    """Systemd's ``$CACHE_DIRECTORY`` (``CacheDirectory=``), else /var/cache/auditproc as root, else the user's."""
    if os.environ.get("CACHE_DIRECTORY"):
        return Path(os.environ["CACHE_DIRECTORY"].split(":")[0])
    if os.geteuid() == 0:
        return Path("/var/cache/auditproc")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "auditproc"


def code_key() -> str:
    """Return a digest of what turns rule bytes into rules: auditproc's sources, Python, the regex engine."""
    from auditproc.eql.patterns import re2

    digest = hashlib.sha256(f"{CACHE_FORMAT} {auditproc.__version__} {sys.version} re2={re2 is not None}".encode())
    package = Path(auditproc.__file__).parent
    for source in sorted(package.rglob("*.py")):  # a source checkout changes without a new version
        digest.update(source.relative_to(package).as_posix().encode() + b"\0" + source.read_bytes())
    try:
        import pyparsing

        digest.update(pyparsing.__version__.encode())
    except ImportError:  # pragma: no cover - a dependency
        pass
    return digest.hexdigest()


def to_data(value: Any) -> Any:
    """Return ``value`` (scalars, tuples, frozen dataclasses of them) as JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {TYPE_KEY: type(value).__name__}
        for item in dataclasses.fields(value):
            data[item.name] = to_data(getattr(value, item.name))
        return data
    if isinstance(value, tuple | list):
        return [to_data(item) for item in value]
    return value


def from_data(data: Any, types: Mapping[str, type]) -> Any:
    """Rebuild a value from :func:`to_data`'s form; dataclasses only of ``types``, lists as tuples."""
    if isinstance(data, dict):
        kind = types[data[TYPE_KEY]]
        return kind(**{name: from_data(value, types) for name, value in data.items() if name != TYPE_KEY})
    if isinstance(data, list):
        return tuple(from_data(item, types) for item in data)
    return data


class RuleCache:
    """The entries of one rule set: ``get`` what a file's bytes loaded to, ``put`` new ones, then ``save``."""

    def __init__(self, path: Path, key: str, entries: dict[str, Any], note: str | None = None) -> None:
        self.path = path
        self.key = key
        self._stored = entries
        self._used: dict[str, Any] = {}
        self.note = note  # why the stored entries could not be used or saved, for -v

    @classmethod
    def open(cls, sources: Iterable[Path], options: Mapping[str, Any], directory: Path | None = None) -> RuleCache:
        """Return the cache of a rule set: the rule sources and load options name it, the code keys it."""
        directory = directory or default_cache_dir()
        names = [str(Path(source).resolve()) for source in sources]
        name = hashlib.sha256(json.dumps([names, options], sort_keys=True).encode()).hexdigest()[:32]
        path = directory / f"rules-{name}.json"
        key = code_key()
        try:
            stored = _read_trusted(path)
        except (OSError, UnsafeCache, ValueError) as exc:
            return cls(path, key, {}, f"rule cache {path} not used: {exc}")
        if stored is None:
            return cls(path, key, {})
        if not isinstance(stored, dict) or stored.get("key") != key or not isinstance(stored.get("entries"), dict):
            return cls(path, key, {}, f"rule cache {path} is stale: rebuilt")
        return cls(path, key, stored["entries"])

    def get(self, digest: str) -> Any:
        """Return the entry for a file whose bytes have this SHA-256, or None."""
        entry = self._stored.get(digest)
        if entry is not None:
            self._used[digest] = entry
        return entry

    def put(self, digest: str, entry: Any) -> None:
        """Remember the entry for a file's bytes (saved by :meth:`save`)."""
        self._used[digest] = entry

    def forget(self, digest: str) -> None:
        """Drop an entry that could not be used (it is rebuilt and put again)."""
        self._stored.pop(digest, None)
        self._used.pop(digest, None)

    def save(self) -> None:
        """Write the entries used by this load, when they differ from the file's; atomically, mode 0600."""
        if self._used == self._stored:
            return
        text = json.dumps({"key": self.key, "entries": self._used}, separators=(",", ":"))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _check_directory(self.path.parent)
            # Not durable: a file cut short by a power cut is damaged, so rebuilt.
            write_atomically(self.path, text.encode(), durable=False)
        except (OSError, UnsafeCache) as exc:
            self.note = f"rule cache {self.path} not saved: {exc}"
            return
        self._stored = dict(self._used)


class UnsafeCache(Exception):
    """A cache file or directory that someone other than this user could have written."""


def _check_directory(directory: Path) -> None:
    _check_owner(os.stat(directory), "directory")


def _check_owner(info: os.stat_result, what: str) -> None:
    why = why_untrusted(info)
    if why is not None:
        raise UnsafeCache(f"the {what} is {why}")


def _read_trusted(path: Path) -> Any:
    """Return the cache file's JSON, or None when there is none; raise when it is unsafe or damaged."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeCache("not a regular file")
        _check_owner(info, "file")
        _check_directory(path.parent)
        raw = handle.read(MAX_CACHE_BYTES + 1)
    if len(raw) > MAX_CACHE_BYTES:
        raise ValueError("larger than 64 MiB")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"damaged ({exc})") from None
