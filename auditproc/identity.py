"""Who: uid/gid → names, from the log's own ENRICHED fields first, else from a user database that
belongs to the host the log came from (never the wrong machine's); and this host's machine id."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")  # systemd's, then D-Bus's copy


def machine_id(files: tuple[str, ...] = MACHINE_ID_FILES) -> str | None:
    """This host's machine id (machine-id(5)), None where no readable file holds one."""
    for name in files:
        try:
            text = Path(name).read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            continue
        if text:
            return text
    return None


class UserDbError(ValueError):
    """A passwd or group file that cannot be read."""


@dataclass(slots=True)
class UserDb:
    """Names by numeric id, read from passwd(5) and group(5) files."""

    users: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_files(cls, passwd: str | Path | None, group: str | Path | None) -> UserDb:
        """Read the given files (either may be None)."""
        return cls(_read_db(passwd) if passwd else {}, _read_db(group) if group else {})

    @classmethod
    def local(cls) -> UserDb:
        """This machine's databases (only right for this host's own live log)."""
        return cls.from_files("/etc/passwd", "/etc/group")

    def enrich(self, doc: dict) -> dict:
        """Add names for ids that have none; names the log itself carried are kept."""
        user = doc.get("user")
        related: list[str] = []
        if user:
            self._name(user, self.users, related)
            self._name(user.get("group"), self.groups)
            effective = user.get("effective")
            if effective:
                self._name(effective, self.users, related)
                self._name(effective.get("group"), self.groups)
        auditd_user = doc.get("auditd", {}).get("user", {})
        for label in ("audit", "saved", "filesystem"):
            ident = auditd_user.get(label)
            if ident:
                self._name(ident, self.users, related if label == "audit" else None)
                self._name(ident.get("group"), self.groups)
        if related:
            names = doc.setdefault("related", {}).setdefault("user", [])
            names.extend(n for n in related if n not in names)
        actor = doc.get("auditd", {}).get("summary", {}).get("actor")
        if actor:  # the summary names its actor as the ids now are (the log's own names were put at build)
            for slot, ident in (("primary", auditd_user.get("audit")), ("secondary", user)):
                if ident and "name" in ident and actor.get(slot) == ident.get("id"):
                    actor[slot] = ident["name"]
        return doc

    @staticmethod
    def _name(ident: dict | None, db: dict[str, str], related: list[str] | None = None) -> None:
        if not ident or "id" not in ident:
            return
        if "name" not in ident:
            name = db.get(ident["id"])
            if name is None:
                return
            ident["name"] = name
        if related is not None:
            related.append(ident["name"])


def _read_db(path: str | Path) -> dict[str, str]:
    names: dict[str, str] = {}
    try:
        text = Path(path).read_text(encoding="utf-8", errors="backslashreplace")
    except OSError as exc:
        raise UserDbError(f"{path}: {exc.strerror}") from exc
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].isdigit() and not line.startswith("#"):
            names.setdefault(parts[2], parts[0])
    return names
