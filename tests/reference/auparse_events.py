"""Reference grouping from audit-userspace's auparse, for comparison with our Assembler.

Run with the system Python that has python3-audit (never import auparse into the venv):

    /usr/bin/python3 tests/reference/auparse_events.py FILE
        prints a JSON list of events: {"id": "SEC.MS:SERIAL", "node": ..., "types": [...]}
    /usr/bin/python3 tests/reference/auparse_events.py --each FILE...
        prints one JSON object {FILE: [events...] or {"error": "..."}} (one process for many files)
    /usr/bin/python3 tests/reference/auparse_events.py --interpret < EVENTS.json
        reads a JSON list of events, each a list of record lines, and prints per event auparse's
        reading of those lines alone: {"syscall": name or null, "fields": [field names]}
"""

from __future__ import annotations

import json
import re
import sys

import auparse

# Ids and type names are taken from each record's text as written in the file: auparse
# renames types (UNKNOWN[1334] -> BPF, UNKNOWN[1323] -> MMAP), raises LookupError for names
# it does not know (CKADDR), and reformats ids ("1337845201.0:0" -> "1337845201.000:0").
# What we compare is the grouping, not the naming.
_TYPE = re.compile(r"(?:^| )type=(\S*)")
_ID = re.compile(r" msg=audit\(([^)]*)\)")


def events_of(path: str) -> list[dict]:
    """Every event auparse reads from one file, records in the order auparse gives them."""
    au = auparse.AuParser(auparse.AUSOURCE_FILE, path)
    out = []
    while au.parse_next_event():
        ts = au.get_timestamp()  # None for bogus events made from non-record lines
        event_id = None
        types = []
        if au.first_record():
            while True:
                text = au.get_record_text()
                m = _TYPE.search(text)
                types.append(m.group(1) if m else "?")
                if event_id is None:
                    m = _ID.search(text)
                    event_id = m.group(1) if m else None
                if not au.next_record():
                    break
        if event_id is None and ts is not None:
            event_id = f"{ts.sec}.{ts.milli:03d}:{ts.serial}"
        out.append({"id": event_id, "node": ts.host if ts is not None else None, "types": types})
    return out


def interpret(lines: list[str]) -> dict:
    """auparse's reading of one event's lines: the name of its first SYSCALL's syscall (auparse's own
    per-arch table) and the names of every field of every record (AVC verdicts become seresult)."""
    au = auparse.AuParser(auparse.AUSOURCE_BUFFER, "".join(line + "\n" for line in lines))
    syscall = None
    fields: set[str] = set()
    while au.parse_next_event():  # auparse may split the lines into several events
        if not au.first_record():
            continue
        while True:
            if au.first_field():
                while True:
                    try:
                        name = au.get_field_name()
                    except RuntimeError:  # a token auparse could not name
                        name = None
                    if name is not None:
                        fields.add(name)
                        if name == "syscall" and syscall is None and au.get_type_name() == "SYSCALL":
                            # A log written by `ausearch -i` already names it (syscall=execve), which
                            # auparse would read as number 0 (read).
                            raw = au.get_field_str()
                            syscall = au.interpret_field() if raw.isdigit() else raw
                    if not au.next_field():
                        break
            if not au.next_record():
                break
    return {"syscall": syscall, "fields": sorted(fields)}


def main(argv: list[str]) -> int:
    """Command-line entry point; see the module docstring."""
    if argv[:1] == ["--each"]:
        result: dict[str, object] = {}
        for path in argv[1:]:
            try:
                result[path] = events_of(path)
            except Exception as exc:  # noqa: BLE001 - one bad file must not hide the others
                result[path] = {"error": f"{type(exc).__name__}: {exc}"}
        json.dump(result, sys.stdout)
    elif argv == ["--interpret"]:
        json.dump([interpret(lines) for lines in json.load(sys.stdin)], sys.stdout)
    elif len(argv) == 1:
        json.dump(events_of(argv[0]), sys.stdout)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
