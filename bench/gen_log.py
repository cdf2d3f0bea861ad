"""Generate a large, realistic /var/log/audit/audit.log for benchmarks.

The mix imitates a busy server with an exec-heavy audit rule set: mostly non-exec SYSCALL
events (openat, connect, ...) with their PATH/CWD/SOCKADDR/PROCTITLE records, PAM and sudo
records with ``msg='…'``, and about 7 % exec events (SYSCALL syscall=59 + EXECVE + CWD +
PATH×2 + PROCTITLE), some with hex-encoded or very long (``aN_len``/``aN[i]``) arguments and
a few hping3/nping scans. Like auditd's own log there is no EOE; serials and timestamps only
grow, but now and then the tail of one event is written after the start of the next
(records of different CPUs interleave). Output is deterministic for a given seed.

    python bench/gen_log.py --lines 1000000 --out /tmp/audit.log [--seed 1] [--enriched] [--node web01]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from dense_execs import Proc, draw_tree

GS = "\x1d"
ARCH = "c000003e"  # x86_64: every syscall number below is from its table
MAX_EXECVE_RECORD = 7500  # the kernel keeps each EXECVE record under this (MAX_EXECVE_AUDIT_LEN)
PROCTITLE_MAX = 128  # bytes of the argument area the kernel copies
UNSET = 4294967295

EXEC_SHARE = 0.07
DENSE_EXEC_SHARE = 0.35  # a host audited with -S execve
DENSE_CHILD_SHARE = 0.85  # of dense execs: the next process of a tree already started
DENSE_KNOWN_PARENT_SHARE = 0.7  # of new trees: started by an earlier shell or build
PROFILES = ("sparse", "dense")
INTERLEAVE_SHARE = 0.02
LONG_ARG_SHARE = 0.004  # of exec events
SCAN_SHARE = 0.005  # hping3 / nping, of exec events

USERS = {0: "root", 33: "www-data", 105: "postgres", 112: "sshd", 1000: "ann", 1001: "bob"}

# (comm, exe, uid, auid, tty) of the long-lived processes that make the non-exec noise.
DAEMONS = [
    ("nginx", "/usr/sbin/nginx", 33, UNSET, "(none)"),
    ("php-fpm8.2", "/usr/sbin/php-fpm8.2", 33, UNSET, "(none)"),
    ("postgres", "/usr/lib/postgresql/15/bin/postgres", 105, UNSET, "(none)"),
    ("sshd", "/usr/sbin/sshd", 0, UNSET, "(none)"),
    ("systemd-journal", "/usr/lib/systemd/systemd-journald", 0, UNSET, "(none)"),
    ("cron", "/usr/sbin/cron", 0, UNSET, "(none)"),
    ("python3", "/usr/bin/python3.11", 1000, 1000, "pts0"),
    ("node", "/usr/bin/node", 1001, 1001, "(none)"),
    ("Web Content", "/usr/lib/firefox/firefox", 1000, 1000, "(none)"),  # space → hex comm
]

FILES = [
    "/etc/ld.so.cache", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts",
    "/etc/resolv.conf", "/var/www/html/index.php", "/var/www/html/wp-config.php",
    "/var/lib/postgresql/15/main/base/16384/2619", "/var/log/nginx/access.log",
    "/usr/lib/x86_64-linux-gnu/libc.so.6", "/proc/self/status", "/tmp/sess_8f2a0c", "/home/ann/my notes.txt",
    "/home/ann/café.md", "/run/systemd/journal/socket", "/sys/fs/cgroup/system.slice/cpu.stat",
]
CWDS = ["/", "/root", "/home/ann", "/home/bob/src/app", "/var/www/html", "/var/lib/postgresql", "/tmp/build dir"]

# (argv, exe) of ordinary commands; a shell and cron run them all day long.
COMMANDS: list[tuple[list[str], str]] = [
    (["ls", "-la"], "/usr/bin/ls"),
    (["ps", "aux"], "/usr/bin/ps"),
    (["grep", "-r", "TODO", "."], "/usr/bin/grep"),
    (["cat", "/etc/os-release"], "/usr/bin/cat"),
    (["sh", "-c", "command -v debian-sa1 > /dev/null && debian-sa1 1 1"], "/usr/bin/dash"),
    (["/bin/sh", "-c", "cd / && run-parts --report /etc/cron.hourly"], "/usr/bin/dash"),
    (["run-parts", "--report", "/etc/cron.hourly"], "/usr/bin/run-parts"),
    (["systemctl", "status", "nginx.service"], "/usr/bin/systemctl"),
    (["git", "status", "--porcelain"], "/usr/bin/git"),
    (["git", "commit", "-m", "fix: handle empty input"], "/usr/bin/git"),
    (["python3", "manage.py", "migrate"], "/usr/bin/python3.11"),
    (["curl", "-fsS", "https://api.example.com/v1/health"], "/usr/bin/curl"),
    (["find", "/var/log", "-name", "*.gz", "-mtime", "+7", "-delete"], "/usr/bin/find"),
    (["awk", "{print $1}", "/var/log/nginx/access.log"], "/usr/bin/mawk"),
    (["sed", "-i", "s/foo/bar/g", "config.ini"], "/usr/bin/sed"),
    (["id", "-u"], "/usr/bin/id"),
    (["uname", "-a"], "/usr/bin/uname"),
    (["date", "+%s"], "/usr/bin/date"),
    (["sleep", "1"], "/usr/bin/sleep"),
    (["psql", "-c", "SELECT count(*) FROM orders WHERE state = 'open'"], "/usr/bin/psql"),
    (["ssh", "-o", "BatchMode=yes", "backup@10.0.0.7", "true"], "/usr/bin/ssh"),
    (["tar", "czf", "/backup/www.tgz", "/var/www/html"], "/usr/bin/tar"),
    (["logger", "-t", "deploy", "release 2024.3 done"], "/usr/bin/logger"),
    (["perl", "-e", 'print "ok\\n"'], "/usr/bin/perl"),
    (["vim", "/home/ann/my notes.txt"], "/usr/bin/vim.basic"),
]
SCANS: list[tuple[list[str], str]] = [
    (["hping3", "-S", "-p", "80", "10.0.0.5"], "/usr/sbin/hping3"),
    (["hping3", "--scan", "1-1024", "-S", "10.0.0.9"], "/usr/sbin/hping3"),
    (["nping", "--tcp", "-p", "22,80,443", "10.0.0.0/24"], "/usr/bin/nping"),
    (["nping", "--icmp", "-c", "3", "192.168.1.1"], "/usr/bin/nping"),
]

# Non-exec syscalls: (name, number, records after SYSCALL, weight).
SYSCALLS = [
    ("openat", 257, "file", 45),
    ("connect", 42, "sock", 14),
    ("accept4", 288, "sock", 6),
    ("bind", 49, "sock", 2),
    ("unlinkat", 263, "file2", 6),
    ("renameat2", 316, "file2", 3),
    ("fchmodat", 268, "file", 3),
    ("clone", 56, "none", 8),
    ("setresuid", 117, "none", 2),
    ("kill", 62, "none", 2),
]
PAM_SEQUENCE = ["USER_ACCT", "CRED_ACQ", "USER_START", "USER_END", "CRED_DISP"]


class Ids(NamedTuple):
    """Who runs an exec: a child inherits its parent's."""

    uid: int
    auid: int
    tty: str


def encode(value: bytes) -> str:
    """A value as the kernel logs it: quoted if plain printable ASCII without '"', else hex."""
    if value and all(0x21 <= b <= 0x7E and b != 0x22 for b in value):
        return '"' + value.decode("ascii") + '"'
    return value.hex().upper()


class Generator:
    """Writes events one after another; every choice comes from one seeded RNG."""

    def __init__(self, seed: int, enriched: bool, node: str | None, profile: str = "sparse") -> None:
        self.rng = random.Random(seed)
        self.enriched = enriched
        self.prefix = f"node={node} " if node else ""
        self.time_ms = 1_700_000_000_000
        self.serial = 1_000_000
        self.next_pid = 20_000
        self.exec_events = 0
        self.pending: deque[tuple[Proc, int, Ids]] = deque()  # dense: started trees' next processes
        self.parents: deque[tuple[int, Ids]] = deque(maxlen=32)  # dense: shells and builds still running
        exec_event, exec_share = (self.exec_event, EXEC_SHARE) if profile == "sparse" else (
            self.dense_exec_event, DENSE_EXEC_SHARE)
        kinds: list[tuple[Callable[[], list[str]], float]] = [
            (exec_event, exec_share),
            (self.user_event, 0.06),
            (self.syscall_event, 1.0 - exec_share - 0.06),
        ]
        self._kinds = [k for k, _ in kinds]
        self._weights = [w for _, w in kinds]
        self._syscall_weights = [s[3] for s in SYSCALLS]

    # --- helpers ------------------------------------------------------------------------

    def header(self, rtype: str) -> str:
        stamp = f"{self.time_ms // 1000}.{self.time_ms % 1000:03d}:{self.serial}"
        return f"{self.prefix}type={rtype} msg=audit({stamp}):"

    def names(self, **ids: int) -> str:
        """The ENRICHED suffix of a record: GS then upper-case interpretations."""
        if not self.enriched:
            return ""
        parts = [f'{k}="{USERS.get(v, "unset") if v != UNSET else "unset"}"' for k, v in ids.items()]
        return GS + " ".join(parts)

    def syscall_record(self, name: str, number: int, success: bool, exit_code: int, items: int,
                       ppid: int, pid: int, uid: int, auid: int, tty: str, comm: str, exe: str, key: str) -> str:
        rng = self.rng
        gid = uid
        ses = UNSET if auid == UNSET else rng.randint(1, 40)
        a = [f"{rng.getrandbits(44):x}" for _ in range(4)]
        line = (
            f"{self.header('SYSCALL')} arch={ARCH} syscall={number} success={'yes' if success else 'no'} "
            f"exit={exit_code} a0={a[0]} a1={a[1]} a2={a[2]} a3={a[3]} items={items} ppid={ppid} pid={pid} "
            f"auid={auid} uid={uid} gid={gid} euid={uid} suid={uid} fsuid={uid} egid={gid} sgid={gid} "
            f"fsgid={gid} tty={tty} ses={ses} comm={encode(comm.encode())} exe={encode(exe.encode())} "
            f"subj=unconfined key={key}"
        )
        if self.enriched:
            line += f"{GS}ARCH=x86_64 SYSCALL={name} " + self.names(
                AUID=auid, UID=uid, GID=gid, EUID=uid, SUID=uid, FSUID=uid, EGID=gid, SGID=gid, FSGID=gid
            )[1:]
        return line

    def path_record(self, item: int, name: str, nametype: str = "NORMAL", mode: str = "0100644") -> str:
        rng = self.rng
        owner = 0 if rng.random() < 0.8 else 1000
        return (
            f"{self.header('PATH')} item={item} name={encode(name.encode())} inode={rng.randint(1000, 9_999_999)} "
            f"dev=fd:00 mode={mode} ouid={owner} ogid={owner} rdev=00:00 nametype={nametype} "
            f"cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0" + self.names(OUID=owner, OGID=owner)
        )

    def proctitle_record(self, argv: list[str]) -> str:
        raw = b"\x00".join(a.encode() for a in argv)[:PROCTITLE_MAX]
        return f"{self.header('PROCTITLE')} proctitle={encode(raw)}"

    def cwd_record(self, cwd: str) -> str:
        return f"{self.header('CWD')} cwd={encode(cwd.encode())}"

    def new_pid(self) -> int:
        self.next_pid = self.next_pid + self.rng.randint(1, 7)
        if self.next_pid > 4_000_000:
            self.next_pid = 20_000
        return self.next_pid

    # --- events -------------------------------------------------------------------------

    def syscall_event(self) -> list[str]:
        rng = self.rng
        name, number, shape, _ = rng.choices(SYSCALLS, self._syscall_weights)[0]
        comm, exe, uid, auid, tty = rng.choice(DAEMONS)
        pid = 1000 + DAEMONS.index((comm, exe, uid, auid, tty)) * 37
        success = rng.random() > 0.08
        items = {"file": 1, "file2": 2}.get(shape, 0)
        exit_code = rng.randint(3, 40) if success else -rng.choice((2, 13, 111, 115))
        lines = [self.syscall_record(name, number, success, exit_code, items, 1, pid, uid, auid, tty,
                                     comm, exe, "(null)" if rng.random() < 0.7 else '"access"')]
        if shape == "file":
            lines.append(self.cwd_record(rng.choice(CWDS)))
            lines.append(self.path_record(0, rng.choice(FILES), "NORMAL" if success else "UNKNOWN"))
        elif shape == "file2":
            lines.append(self.cwd_record(rng.choice(CWDS)))
            target = rng.choice(FILES)
            lines.append(self.path_record(0, target.rsplit("/", 1)[0] or "/", "PARENT", "040755"))
            lines.append(self.path_record(1, target, "DELETE"))
        elif shape == "sock":
            lines.append(self.sockaddr_record())
        lines.append(self.proctitle_record([exe.rsplit("/", 1)[1], "-c", "/etc/app.conf"]))
        return lines

    def sockaddr_record(self) -> str:
        rng = self.rng
        if rng.random() < 0.2:
            path = b"/run/systemd/journal/socket"
            saddr = (b"\x01\x00" + path + b"\x00").hex().upper()
            enrich = f"{GS}SADDR={{ saddr_fam=local path={path.decode()} }}"
        else:
            port = rng.choice((80, 443, 5432, 53, 22, 6379))
            ip = (10, 0, rng.randint(0, 3), rng.randint(1, 254))
            saddr = (b"\x02\x00" + port.to_bytes(2, "big") + bytes(ip) + bytes(8)).hex().upper()
            enrich = f"{GS}SADDR={{ saddr_fam=inet laddr={'.'.join(map(str, ip))} lport={port} }}"
        return f"{self.header('SOCKADDR')} saddr={saddr}" + (enrich if self.enriched else "")

    def user_event(self) -> list[str]:
        rng = self.rng
        roll = rng.random()
        pid = self.new_pid()
        if roll < 0.5:  # cron session: the PAM sequence, one event each
            rtype = PAM_SEQUENCE[self.serial % len(PAM_SEQUENCE)]
            uid, auid, ses = 0, 0, rng.randint(100, 9000)
            op = {"USER_ACCT": "PAM:accounting", "CRED_ACQ": "PAM:setcred", "USER_START": "PAM:session_open",
                  "USER_END": "PAM:session_close", "CRED_DISP": "PAM:setcred"}[rtype]
            body = (f'op={op} grantors=pam_permit acct="root" exe="/usr/sbin/cron" hostname=? addr=? '
                    f"terminal=cron res=success")
        elif roll < 0.8:  # sudo
            rtype = rng.choice(("USER_CMD", "USER_AUTH", "USER_ACCT"))
            uid, auid, ses = 1000, 1000, rng.randint(1, 40)
            if rtype == "USER_CMD":
                cmd = rng.choice(("systemctl restart nginx", "apt-get update", "tail -f /var/log/syslog"))
                body = (f'cwd="/home/ann" cmd={cmd.encode().hex().upper()} exe="/usr/bin/sudo" '
                        f"terminal=pts/0 res=success")
            else:
                body = (f'op=PAM:{"authentication" if rtype == "USER_AUTH" else "accounting"} '
                        f'grantors=pam_unix acct="ann" exe="/usr/bin/sudo" hostname=? addr=? terminal=/dev/pts/0 '
                        f'res={"success" if rng.random() < 0.95 else "failed"}')
        else:  # ssh logins from the internet, mostly failing
            rtype = rng.choice(("USER_LOGIN", "USER_AUTH", "CRED_ACQ"))
            uid, auid, ses = 0, UNSET, UNSET
            addr = f"203.0.113.{rng.randint(1, 254)}"
            acct = rng.choice(('"root"', '"admin"', '"(unknown)"', "61646D696E20757365"))
            body = (f'op=login acct={acct} exe="/usr/sbin/sshd" hostname=? addr={addr} terminal=ssh '
                    f'res={"failed" if rng.random() < 0.9 else "success"}')
        line = (f"{self.header(rtype)} pid={pid} uid={uid} auid={auid} ses={ses} subj=unconfined "
                f"msg='{body}'" + self.names(UID=uid, AUID=auid))
        return [line]

    def exec_event(self) -> list[str]:
        rng = self.rng
        self.exec_events += 1
        roll = rng.random()
        if roll < SCAN_SHARE:
            argv, exe = rng.choice(SCANS)
        else:
            argv, exe = rng.choice(COMMANDS)
        argv = list(argv)
        if roll > 1.0 - LONG_ARG_SHARE:
            argv, exe = self.long_argument_argv(), "/usr/bin/python3.11"
        ids = self.new_ids()
        ppid, pid = self.new_pid(), self.new_pid()
        return self.exec_records(argv, exe, ppid, pid, ids)

    def long_argument_argv(self) -> list[str]:
        """An inline script or encoded payload: one argument of 16–80 KB."""
        blob = self.rng.randbytes(self.rng.randint(8_000, 40_000))
        return ["python3", "-c", "import base64;exec(base64.b64decode('" + blob.hex() + "'))"]

    def new_ids(self) -> Ids:
        """The user of a process whose parent the log does not show."""
        rng = self.rng
        uid = rng.choice((0, 0, 33, 1000, 1000, 1001))
        auid = UNSET if uid in (0, 33) and rng.random() < 0.6 else rng.choice((1000, 1001))
        return Ids(uid, auid, "(none)" if auid == UNSET else "pts0")

    def dense_exec_event(self) -> list[str]:
        """The next exec of a started process tree, or the first of a new one."""
        rng = self.rng
        self.exec_events += 1
        if self.pending and rng.random() < DENSE_CHILD_SHARE:
            proc, ppid, ids = self.pending.popleft()
        else:
            proc = self.new_tree()
            if self.parents and rng.random() < DENSE_KNOWN_PARENT_SHARE:
                ppid, ids = rng.choice(self.parents)
            else:
                ppid, ids = self.new_pid(), self.new_ids()
        pid = self.new_pid()
        self.pending.extend((child, pid, ids) for child in proc.children)
        if proc.is_parent:
            self.parents.append((pid, ids))
        return self.exec_records(proc.argv, proc.exe, ppid, pid, ids)

    def new_tree(self) -> Proc:
        """A new process tree: mostly everyday work, a few scans and very long arguments."""
        rng = self.rng
        roll = rng.random()
        if roll < SCAN_SHARE:
            return Proc(list(rng.choice(SCANS)[0]))
        if roll > 1.0 - LONG_ARG_SHARE:
            return Proc(self.long_argument_argv())
        return draw_tree(rng)

    def exec_records(self, argv: list[str], exe: str, ppid: int, pid: int, ids: Ids) -> list[str]:
        """SYSCALL(execve) + EXECVE… + CWD + PATH×2 + PROCTITLE of one exec."""
        rng = self.rng
        uid, auid, tty = ids
        success = rng.random() > 0.03
        comm = argv[0].rsplit("/", 1)[-1][:15]
        lines = [self.syscall_record("execve", 59, success, 0 if success else -2, 2, ppid, pid, uid, auid, tty,
                                     comm, exe, '"exec"')]
        lines.extend(self.execve_records(argv))
        lines.append(self.cwd_record(rng.choice(CWDS)))
        lines.append(self.path_record(0, exe if argv[0].startswith("/") or rng.random() < 0.5 else argv[0],
                                      mode="0100755"))
        lines.append(self.path_record(1, "/lib64/ld-linux-x86-64.so.2", mode="0100755"))
        lines.append(self.proctitle_record(argv))
        return lines

    def execve_records(self, argv: list[str]) -> list[str]:
        """EXECVE records as the kernel splits them: ``aN_len``/``aN[i]`` for long arguments."""
        records: list[str] = []
        current = f" argc={len(argv)}"
        for i, arg in enumerate(argv):
            value = encode(arg.encode())
            field = f" a{i}={value}"
            if len(current) + len(field) <= MAX_EXECVE_RECORD:
                current += field
                continue
            if len(value) < MAX_EXECVE_RECORD // 2:  # fits in a fresh record
                records.append(current)
                current = field
                continue
            hexed = arg.encode().hex().upper()  # a long argument is always hex, then chunked
            current += f" a{i}_len={len(hexed)}"
            at, chunk = 0, 0
            while at < len(hexed):
                room = MAX_EXECVE_RECORD - len(current) - len(f" a{i}[{chunk}]=")
                room -= room % 2  # whole bytes per chunk
                if room < 64:
                    records.append(current)
                    current = ""
                    continue
                current += f" a{i}[{chunk}]={hexed[at:at + room]}"
                at += room
                chunk += 1
        records.append(current)
        head = self.header("EXECVE")
        # The first record reads "): argc=…"; continuations start with two spaces.
        return [head + records[0]] + [head + " " + rec for rec in records[1:]]

    # --- driver -------------------------------------------------------------------------

    def advance(self) -> None:
        """Next event: serial +1, audit time forward by 0–3 ms (a few hundred events/s per CPU)."""
        self.serial += 1
        self.time_ms += self.rng.choice((0, 0, 1, 1, 2, 3))

    def lines(self, count: int):
        """Yield exactly ``count`` lines."""
        rng = self.rng
        written = 0
        held: list[str] = []  # tail of an event written after the start of the next one
        while written < count:
            self.advance()
            event = rng.choices(self._kinds, self._weights)[0]()
            if held:
                cut = 1 if len(event) > 1 else len(event)
                event = event[:cut] + held + event[cut:]
                held = []
            elif len(event) > 2 and rng.random() < INTERLEAVE_SHARE:
                keep = rng.randint(1, len(event) - 1)
                event, held = event[:keep], event[keep:]
            for line in event:
                if written >= count:
                    return
                yield line
                written += 1
        # A count that ends inside an event cuts it short: as a real log read mid-write does.


def write_log(path: Path, lines: int, seed: int = 1, enriched: bool = False, node: str | None = None,
              profile: str = "sparse") -> int:
    """Write ``lines`` lines to ``path``; return the number of exec events started."""
    gen = Generator(seed, enriched, node, profile)
    with path.open("w", encoding="utf-8", newline="\n", buffering=1 << 20) as out:
        batch: list[str] = []
        for line in gen.lines(lines):
            batch.append(line)
            if len(batch) >= 4096:
                out.write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            out.write("\n".join(batch) + "\n")
    return gen.exec_events


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, required=True, help="number of lines to write")
    parser.add_argument("--out", type=Path, required=True, help="output file")
    parser.add_argument("--seed", type=int, default=1, help="RNG seed (same seed, same file)")
    parser.add_argument("--enriched", action="store_true", help="log_format=ENRICHED (GS + names)")
    parser.add_argument("--node", help="prefix every line with node=NAME")
    parser.add_argument("--profile", choices=PROFILES, default="sparse",
                        help="sparse: 7 %% of events are execs; dense: 35 %%, as with -S execve (default sparse)")
    args = parser.parse_args(argv)
    execs = write_log(args.out, args.lines, args.seed, args.enriched, args.node, args.profile)
    print(f"wrote {args.lines} lines, {execs} exec events to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
