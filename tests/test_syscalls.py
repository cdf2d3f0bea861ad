"""The generated syscall tables: names by (arch, number), interpreted names, and regeneration."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from auditproc.normalize import gen_syscalls, syscalls
from auditproc.normalize.syscalls import ARCH_NAMES, syscall_name

# (arch= value, {name: number}) from the kernel's syscall tables, written independently of ausyscall.
KNOWN = [
    (b"c000003e", {"execve": 59, "execveat": 322, "exit_group": 231, "openat": 257, "connect": 42,
                   "init_module": 175, "finit_module": 313, "munmap": 11}),
    (b"40000003", {"execve": 11, "execveat": 358, "exit_group": 252, "openat": 295, "connect": 362,
                   "init_module": 128, "finit_module": 350}),
    (b"c00000b7", {"execve": 221, "execveat": 281, "exit_group": 94, "openat": 56, "connect": 203,
                   "init_module": 105, "finit_module": 273}),
    (b"40000028", {"execve": 11, "execveat": 387, "exit_group": 248, "openat": 322, "connect": 283,
                   "init_module": 128, "finit_module": 379}),
    (b"80000015", {"execve": 11, "execveat": 362, "exit_group": 234, "openat": 286, "connect": 328}),
    (b"c0000015", {"execve": 11, "execveat": 362, "exit_group": 234, "openat": 286, "connect": 328}),
    (b"00000014", {"execve": 11, "execveat": 362, "exit_group": 234}),
    (b"80000016", {"execve": 11, "execveat": 354, "exit_group": 248, "openat": 288, "connect": 362,
                   "init_module": 128, "finit_module": 344}),
    (b"00000016", {"execve": 11, "execveat": 354, "exit_group": 248}),
]
CASES = [(arch, str(number).encode(), name) for arch, names in KNOWN for name, number in names.items()]


@pytest.mark.parametrize(("arch", "number", "name"), CASES)
def test_known_numbers(arch: bytes, number: bytes, name: str) -> None:
    assert syscall_name(arch, number) == name


@pytest.mark.parametrize(
    ("arch", "number"),
    [
        (b"c000003e", b"99999"),  # beyond the table
        (b"c000003e", b""),  # syscall= absent
        (b"c000003e", b"-1"),
        (b"c000003e", b"0x3b"),  # not how the kernel writes it
        (b"deadbeef", b"59"),  # unknown arch: never guess from the number alone
        (b"", b"59"),
        (b"x86_64", b"unknown-syscall(999)"),
    ],
)
def test_unknown_is_none(arch: bytes, number: bytes) -> None:
    assert syscall_name(arch, number) is None


def test_riscv64_borrows_the_generic_table() -> None:  # no riscv64 table in auditd 3.0.9's ausyscall
    assert [syscall_name(b"c00000f3", n) for n in (b"221", b"281", b"94")] == ["execve", "execveat", "exit_group"]


def test_same_number_differs_by_arch() -> None:
    assert syscall_name(b"40000003", b"11") == "execve"
    assert syscall_name(b"c000003e", b"11") == "munmap"


@pytest.mark.parametrize(
    ("arch", "number", "name"),
    [
        (b"x86_64", b"execve", "execve"),  # ausearch -i writes both as names
        (b"i386", b"execveat", "execveat"),
        (b"armeb", b"exit_group", "exit_group"),
        (b"c000003e", b"openat", "openat"),  # a hand-edited mix still reads
        (b"", b"finit_module", "finit_module"),
    ],
)
def test_interpreted_names(arch: bytes, number: bytes, name: str) -> None:
    assert syscall_name(arch, number) == name


@pytest.mark.parametrize(
    ("arch", "name"),
    [
        (b"c000003e", "x86_64"), (b"40000003", "i386"), (b"c00000b7", "aarch64"), (b"40000028", "arm"),
        (b"c00000f3", "riscv64"), (b"80000015", "ppc64"), (b"c0000015", "ppc64le"), (b"00000014", "ppc"),
        (b"80000016", "s390x"), (b"00000016", "s390"),
        # ausearch -i (auditd 3.0.9) writes names; it calls little-endian ARM "armeb"
        (b"x86_64", "x86_64"), (b"i386", "i386"), (b"ppc64le", "ppc64le"), (b"armeb", "arm"),
    ],
)
def test_arch_names(arch: bytes, name: str) -> None:
    assert ARCH_NAMES[arch] == name


def test_arch_names_are_not_guessed() -> None:
    assert b"deadbeef" not in ARCH_NAMES
    assert b"unknown-elf-type(c0000032)" not in ARCH_NAMES


FAKE_DUMPS = {
    "x86_64": "Using x86_64 syscall table:\n0\tread\n59\texecve\n",
    "i386": "Using i386 syscall table:\n1\texit\n11\texecve\n",
    "ppc64": "Using ppc64 syscall table:\n11\texecve\n",
    "ppc64le": "Using ppc64le syscall table:\n11\texecve\n",
    "riscv64": "Using x86_64 syscall table:\n0\tread\n59\texecve\n",  # ausyscall's silent fallback
    "s390": "Using x86_64 syscall table:\n0\tread\n59\texecve\n",
}


def test_generator_skips_fallback_tables_and_shares_identical_ones() -> None:
    text = gen_syscalls.render(FAKE_DUMPS.get, "0.0-test")
    tables = text[text.index("_TABLES: dict"):]
    assert 'b"c000003e": _X86_64,' in tables
    assert 'b"00000016"' not in tables  # s390 answered with the x86_64 table: left out
    assert 'b"c00000f3"' not in tables  # riscv64 likewise, and no aarch64 table to borrow here
    assert 'b"80000015": _PPC64,\n    b"c0000015": _PPC64,' in tables  # one dict for identical tables
    assert "_PPC64LE" not in text
    assert "# No table in this ausyscall for aarch64, arm, riscv64, ppc, s390x, s390." in text
    assert 'AUSYSCALL_VERSION = "0.0-test"' in text


def test_generated_module_is_what_the_generator_writes() -> None:
    if shutil.which("ausyscall") is None:
        pytest.skip("ausyscall (auditd) is not installed")
    if gen_syscalls.auditd_version() != syscalls.AUSYSCALL_VERSION:
        pytest.skip(f"installed auditd is not {syscalls.AUSYSCALL_VERSION}, the version the module names")
    expected = Path(syscalls.__file__).read_text(encoding="utf-8")
    assert gen_syscalls.render(gen_syscalls.ausyscall_dump, gen_syscalls.auditd_version()) == expected
