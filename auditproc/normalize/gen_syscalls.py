"""Write ``syscalls.py`` beside this file from auditd's own tables (``ausyscall ARCH --dump``).

Run ``python -m auditproc.normalize.gen_syscalls`` after an auditd upgrade and review the diff; the
module names the auditd version it came from, and a test regenerates it when that version is installed.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

TARGET = Path(__file__).with_name("syscalls.py")
AUSYSCALL_TIMEOUT_S = 10
LINE_WIDTH = 108

# arch= of a SYSCALL record (AUDIT_ARCH_* of the kernel's uapi/linux/audit.h: the ELF machine, with
# 0x80000000 for 64-bit and 0x40000000 for little-endian) → the arch's name, which ausyscall also takes.
ARCHES = (
    ("c000003e", "x86_64"),
    ("40000003", "i386"),
    ("c00000b7", "aarch64"),
    ("40000028", "arm"),
    ("c00000f3", "riscv64"),
    ("80000015", "ppc64"),
    ("c0000015", "ppc64le"),
    ("00000014", "ppc"),
    ("80000016", "s390x"),
    ("00000016", "s390"),
)
# arch= as `ausearch -i` writes it, where that differs from our name: auparse 3.0.9 calls
# AUDIT_ARCH_ARM (little-endian) "armeb".
INTERPRETED_ARCHES = {"armeb": "arm"}
# Arches whose table, where ausyscall lacks one, is another's: riscv64 and aarch64 both number
# their syscalls by the kernel's asm-generic/unistd.h (execve 221, execveat 281, exit_group 94).
BORROWED_TABLES = {"riscv64": "aarch64"}

Dump = Callable[[str], str | None]


def ausyscall_dump(arch: str) -> str | None:
    """``ausyscall ARCH --dump`` output, or None when ausyscall has no table of its own for ARCH."""
    try:
        out = subprocess.run(
            ["ausyscall", arch, "--dump"], capture_output=True, text=True, timeout=AUSYSCALL_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def auditd_version() -> str:
    """The installed auditd package's version (Debian), or "unknown"."""
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "auditd"],
            capture_output=True, text=True, timeout=AUSYSCALL_TIMEOUT_S, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def parse_dump(arch: str, text: str) -> dict[int, str] | None:
    """``{number: name}`` from a dump; None when ausyscall fell back to another arch's table."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("Using "):
        return None
    # ausyscall answers an arch it does not know with the x86_64 table (auditd 3.0.9: riscv64).
    if lines[0] == "Using x86_64 syscall table:" and arch != "x86_64":
        return None
    table: dict[int, str] = {}
    for line in lines[1:]:
        number, _, name = line.partition("\t")
        if number.isdigit() and name:
            table[int(number)] = name
    return table or None


def render(dump: Dump, version: str) -> str:
    """The text of ``syscalls.py``: ARCH_NAMES, one dict per distinct table, syscall_name."""
    tables: dict[str, dict[int, str]] = {}
    for _, name in ARCHES:
        text = dump(name)
        table = parse_dump(name, text) if text is not None else None
        if table is not None:
            tables[name] = table
    for name, lender in BORROWED_TABLES.items():
        if name not in tables and lender in tables:
            tables[name] = tables[lender]
    # Identical tables (ppc, ppc64, ppc64le) are written once.
    variable_of: dict[str, str] = {}
    first_with: dict[tuple[tuple[int, str], ...], str] = {}
    for name, table in tables.items():
        variable_of[name] = first_with.setdefault(tuple(sorted(table.items())), "_" + name.upper())
    out = [_HEADER.format(version=version)]
    out.append("ARCH_NAMES: dict[bytes, str] = {\n")
    out += [f'    b"{hex_}": "{name}",\n' for hex_, name in ARCHES]
    interpreted = {name: name for _, name in ARCHES} | INTERPRETED_ARCHES
    out += [f'    b"{shown}": "{name}",\n' for shown, name in interpreted.items()]
    out.append("}\n")
    for name in tables:
        if variable_of[name] == "_" + name.upper():
            items = [f'b"{n}": "{s}",' for n, s in sorted(tables[name].items())]
            out.append(f"\n{variable_of[name]}: dict[bytes, str] = {{\n")
            out += _wrap(items)
            out.append("}\n")
    missing = ", ".join(name for _, name in ARCHES if name not in tables)
    out.append("\n")
    if missing:
        out.append(f"# No table in this ausyscall for {missing}.\n")
    out.append("_TABLES: dict[bytes, dict[bytes, str]] = {\n")
    out += [f'    b"{hex_}": {variable_of[name]},\n' for hex_, name in ARCHES if name in tables]
    out.append("}\n")
    out.append(_FOOTER)
    return "".join(out)


def _wrap(items: list[str]) -> list[str]:
    lines: list[str] = []
    line = "   "
    for item in items:
        if len(line) + 1 + len(item) > LINE_WIDTH:
            lines.append(line + "\n")
            line = "   "
        line += " " + item
    if line.strip():
        lines.append(line + "\n")
    return lines


_HEADER = '''"""Syscall names by architecture, from auditd's ``ausyscall ARCH --dump``.

GENERATED by gen_syscalls.py from ausyscall of auditd {version}: do not edit, regenerate.
"""

from __future__ import annotations

AUSYSCALL_VERSION = "{version}"

# arch= as the SYSCALL record writes it (AUDIT_ARCH_* in hex), and as ausearch -i writes it → name
'''

_FOOTER = '''# Interpreted logs (ausearch -i) write the name itself: syscall=execve.
_NAMES: dict[bytes, str] = {name.encode(): name for table in _TABLES.values() for name in table.values()}
_NO_TABLE: dict[bytes, str] = {}
ALL_NAMES = frozenset(_NAMES.values())  # every syscall some arch knows


def syscall_name(arch: bytes, number: bytes) -> str | None:
    """The name of a SYSCALL record's syscall from its raw ``arch=`` and ``syscall=`` values, else None.

    Never from the number alone: 11 is execve on i386 but munmap on x86_64.
    """
    return _TABLES.get(arch, _NO_TABLE).get(number) or _NAMES.get(number)
'''


def main() -> int:
    """Write syscalls.py from the installed ausyscall."""
    text = render(ausyscall_dump, auditd_version())
    if "_X86_64" not in text:
        print("gen_syscalls: ausyscall gave no x86_64 table; install auditd (apt-get install auditd)", file=sys.stderr)
        return 1
    TARGET.write_text(text, encoding="utf-8")
    print(f"gen_syscalls: wrote {TARGET}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
