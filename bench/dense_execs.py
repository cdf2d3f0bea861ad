"""What a host audited with ``-S execve`` runs: process trees of realistic command lines.

``gen_log.py --profile dense`` turns these into exec events. A tree is the process one shell
or daemon starts and the processes it starts in turn (a pipeline's stages, a build's compiler
driver → cc1 → as, apt-get → dpkg), so parents are earlier execs. Command lines range from
``ls`` to compiler and linker lines of several KB; arguments with spaces, quotes or non-ASCII
bytes end up hex-encoded in the log. Every choice comes from the caller's seeded RNG.
"""

from __future__ import annotations

import random
import shlex
from dataclasses import dataclass, field

GCC_LIBEXEC = "/usr/lib/gcc/x86_64-linux-gnu/12"

# argv[0] → executable, where it is not /usr/bin/argv[0].
EXES = {
    "sh": "/usr/bin/dash", "bash": "/usr/bin/bash", "-bash": "/usr/bin/bash", "python3": "/usr/bin/python3.11",
    "awk": "/usr/bin/mawk", "vim": "/usr/bin/vim.basic", "gcc": "/usr/bin/x86_64-linux-gnu-gcc-12",
    "cc1": f"{GCC_LIBEXEC}/cc1", "collect2": f"{GCC_LIBEXEC}/collect2", "as": "/usr/bin/x86_64-linux-gnu-as",
    "ld": "/usr/bin/x86_64-linux-gnu-ld.bfd", "hping3": "/usr/sbin/hping3", "dpkg": "/usr/bin/dpkg",
    "apt-get": "/usr/bin/apt-get", "node": "/usr/bin/node", "npm": "/usr/bin/node",
}

SHORT_COMMANDS = [
    ["ls"], ["ls", "-la"], ["id", "-u"], ["uname", "-r"], ["date", "+%s"], ["whoami"], ["hostname"],
    ["cat", "/etc/os-release"], ["ps", "-eo", "pid,ppid,comm,%cpu", "--sort=-%cpu"], ["sleep", "0.5"],
    ["systemctl", "is-active", "--quiet", "nginx.service"], ["git", "rev-parse", "--abbrev-ref", "HEAD"],
    ["git", "status", "--porcelain=v1", "--untracked-files=no"], ["git", "log", "-1", "--format=%H %s"],
    ["stat", "-c", "%s %Y", "/var/log/syslog"], ["mkdir", "-p", "/tmp/build dir/obj"], ["rm", "-f", "/tmp/stamp"],
    ["cp", "/home/ann/Überweisung März.pdf", "/srv/share/"], ["vim", "/home/ann/café.md"],
    ["ls", "-la", "/home/ann/写真"], ["mv", "report final.docx", "archive/"], ["logger", "-t", "deploy", "done ✓"],
    ["curl", "-fsS", "-H", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30", "https://api.example.com/v1/jobs"],
    ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "backup@10.0.0.7", "test -d /srv/backup"],
    ["psql", "-Atc", "SELECT count(*) FROM orders WHERE state = 'open'"], ["node", "dist/server.js"],
    ["tar", "--zstd", "-cf", "/backup/www.tar.zst", "--exclude=*.log", "/var/www/html"],
]
PIPELINE_STAGES = [
    ["ps", "aux"], ["grep", "-v", "grep"], ["grep", "-E", "nginx|php-fpm"], ["awk", "{print $2}"], ["sort", "-n"],
    ["uniq", "-c"], ["head", "-n", "20"], ["wc", "-l"], ["cut", "-d:", "-f1"], ["sed", "-e", "s/^ *//"],
    ["xargs", "-r", "kill", "-HUP"], ["tail", "-n", "100", "/var/log/nginx/access.log"], ["tr", "a-z", "A-Z"],
    ["jq", "-r", ".items[] | select(.status.phase != \"Running\") | .metadata.name"], ["cat", "/proc/loadavg"],
    ["df", "-hP"], ["du", "-sh", "/var/log"], ["find", "/var/www/html", "-name", "*.php", "-newer", "/tmp/stamp"],
    ["journalctl", "-u", "nginx", "--since", "-1h", "--no-pager"], ["curl", "-fsS", "http://127.0.0.1:8080/metrics"],
]
PYTHON_ONE_LINERS = [
    "import sys; print('.'.join(map(str, sys.version_info[:3])))",
    "import json,sys; print(json.load(sys.stdin)['tag_name'])",
    "import os; print(os.cpu_count())",
    "from importlib.metadata import version; print(version('requests'))",
    "import socket; s=socket.create_connection(('10.0.0.7', 5432), 2); print('ok')",
    "print('größe:', sum(1 for _ in open('/var/log/syslog', errors='ignore')))",
    "import sysconfig; print(sysconfig.get_paths()['purelib'])",
    "import yaml,sys; [print(d['metadata']['name']) for d in yaml.safe_load_all(sys.stdin) if d]",
]
PACKAGES = [
    "nginx", "libssl3", "libc6", "openssl", "ca-certificates", "python3-yaml", "postgresql-client-15", "curl",
    "libpq5", "zlib1g", "tzdata", "git", "build-essential", "libffi-dev", "jq", "rsync", "unzip", "libxml2",
]
PIP_PACKAGES = ["requests==2.31.0", "urllib3<3", "PyYAML>=6.0", "psycopg[binary]", "gunicorn", "click~=8.1"]
SOURCES = ["src/parse.c", "src/lexer.c", "src/util/strbuf.c", "src/net/http.c", "src/main.c", "lib/hash.c",
           "src/db/pool.c", "src/crypto/sha256.c", "tests/test_parse.c", "src/ui/päge.c"]
INCLUDES = ["-I.", "-I..", "-Isrc", "-Iinclude", "-I/usr/include/glib-2.0", "-I/usr/lib/x86_64-linux-gnu/glib-2.0/include",
            "-I/usr/include/libxml2", "-I/usr/include/postgresql", "-I/usr/include/openssl", "-Ibuild/generated"]
DEFINES = ["-DHAVE_CONFIG_H", "-D_GNU_SOURCE", "-D_FILE_OFFSET_BITS=64", "-DNDEBUG", '-DVERSION="2.4.1"',
           '-DPACKAGE_STRING="app 2.4.1"', "-DG_LOG_DOMAIN=\"app\"", "-DUSE_OPENSSL=1", "-D_FORTIFY_SOURCE=2"]
WARNINGS = ["-Wall", "-Wextra", "-Wshadow", "-Wformat=2", "-Wundef", "-Wpointer-arith", "-Wcast-align",
            "-Wstrict-prototypes", "-Wmissing-prototypes", "-Wno-unused-parameter", "-Wvla", "-Wdate-time",
            "-Werror=implicit-function-declaration", "-Werror=format-security", "-Wnull-dereference"]
CODEGEN = ["-O2", "-g", "-pipe", "-fPIC", "-fstack-protector-strong", "-fstack-clash-protection",
           "-fcf-protection", "-fno-omit-frame-pointer", "-ffile-prefix-map=/home/bob/src/app=.", "-std=gnu11"]


@dataclass
class Proc:
    """A process to exec, and the processes it will exec in turn (each after it)."""

    argv: list[str]
    children: list[Proc] = field(default_factory=list)

    @property
    def exe(self) -> str:
        """The executable the kernel reports for argv[0]."""
        name = self.argv[0]
        if name.startswith("/"):
            return name
        return EXES.get(name, f"/usr/bin/{name}")

    @property
    def is_parent(self) -> bool:
        """Whether later, unrelated commands may be started from it (a shell or a build)."""
        return bool(self.children) or self.argv[0] in ("bash", "-bash")


def draw_tree(rng: random.Random) -> Proc:
    """One process tree, by how often each kind of work starts on a busy build and web host."""
    builder = rng.choices(
        (short_command, pipeline, build, python_one_liner, package_manager, many_files, interactive_shell),
        (36, 20, 5, 14, 8, 3, 4),
    )[0]
    return builder(rng)


def short_command(rng: random.Random) -> Proc:
    """A single short command (a few bytes to ~100)."""
    return Proc(list(rng.choice(SHORT_COMMANDS)))


def interactive_shell(rng: random.Random) -> Proc:
    """A login or sub-shell, later the parent of other commands."""
    return Proc([rng.choice(("-bash", "bash"))])


def pipeline(rng: random.Random) -> Proc:
    """``sh -c 'a | b | c'`` and its stages as children."""
    stages = [list(s) for s in rng.sample(PIPELINE_STAGES, rng.randint(2, 5))]
    script = " | ".join(shlex.join(s) for s in stages)
    if rng.random() < 0.3:
        script = f"cd /var/www/html && {script} > /tmp/report.txt 2>&1"
    return Proc([rng.choice(("sh", "/bin/sh", "bash")), "-c", script], [Proc(s) for s in stages])


def build(rng: random.Random) -> Proc:
    """``make -jN``: per source a gcc driver with dozens of flags → cc1 → as; then a link."""
    flags = (rng.sample(CODEGEN, rng.randint(3, len(CODEGEN))) + rng.sample(DEFINES, rng.randint(2, len(DEFINES)))
             + rng.sample(INCLUDES, rng.randint(2, len(INCLUDES))) + rng.sample(WARNINGS, rng.randint(2, len(WARNINGS))))
    objects: list[str] = []
    compiles: list[Proc] = []
    for source in rng.sample(SOURCES, rng.randint(2, 6)):
        obj = source.rsplit(".", 1)[0] + ".o"
        objects.append(obj)
        tmp = "/tmp/cc" + "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", k=6)) + ".s"
        dep = [f"-MT{obj}", "-MD", "-MP", f"-MF{obj.rsplit('/', 1)[0]}/.deps/{obj.rsplit('/', 1)[-1][:-2]}.Tpo"]
        cc1 = Proc(["cc1", "-quiet", *[f for f in flags if f.startswith(("-I", "-D"))], source, "-quiet",
                    "-dumpbase", source.rsplit("/", 1)[-1], "-mtune=generic", "-march=x86-64",
                    *[f for f in flags if not f.startswith(("-I", "-D"))], "-o", tmp])
        assemble = Proc(["as", "--64", "-o", obj, tmp])
        compiles.append(Proc(["gcc", *flags, *dep, "-c", "-o", obj, source], [cc1, assemble]))
    libs = ["-lssl", "-lcrypto", "-lpq", "-lxml2", "-lglib-2.0", "-lz", "-lm", "-lpthread"]
    objects += [f"build/gen/part{i:03d}.o" for i in range(rng.randint(0, 120))]
    link = Proc(["gcc", "-O2", "-g", "-Wl,-z,relro", "-Wl,-z,now", "-Wl,--as-needed", "-o", "app", *objects, *libs],
                [Proc(["collect2", "-plugin", f"{GCC_LIBEXEC}/liblto_plugin.so", "--build-id", "--eh-frame-hdr",
                       "-m", "elf_x86_64", "-pie", "-z", "now", "-z", "relro", "-o", "app",
                       "/usr/lib/x86_64-linux-gnu/Scrt1.o", *objects, *libs])])
    return Proc(["make", f"-j{rng.choice((2, 4, 8, 16))}", rng.choice(("all", "install", "check"))], [*compiles, link])


def python_one_liner(rng: random.Random) -> Proc:
    """``python3 -c '…'`` or ``python3 -m pip install …``."""
    if rng.random() < 0.25:
        return Proc(["python3", "-m", "pip", "install", "--no-cache-dir", "-q",
                     *rng.sample(PIP_PACKAGES, rng.randint(1, len(PIP_PACKAGES)))])
    return Proc([rng.choice(("python3", "/usr/bin/python3")), "-c", rng.choice(PYTHON_ONE_LINERS)])


def package_manager(rng: random.Random) -> Proc:
    """apt-get install (with its dpkg runs) or a dpkg-query / npm call."""
    roll = rng.random()
    if roll < 0.5:
        packages = rng.sample(PACKAGES, rng.randint(1, 12))
        debs = [f"/var/cache/apt/archives/{p}_1.{rng.randint(0, 9)}-{rng.randint(1, 5)}_amd64.deb" for p in packages]
        return Proc(["apt-get", "install", "-y", "--no-install-recommends", *packages],
                    [Proc(["dpkg", "--status-fd", "35", "--no-triggers", "--unpack", "--auto-deconfigure", *debs]),
                     Proc(["dpkg", "--status-fd", "35", "--configure", "--pending"])])
    if roll < 0.8:
        return Proc(["dpkg-query", "-W", "-f=${Package} ${Version} ${Status}\\n", *rng.sample(PACKAGES, 3)])
    return Proc(["npm", "ci", "--omit=dev", "--no-audit", "--no-fund"])


def many_files(rng: random.Random) -> Proc:
    """``xargs rm -f`` / ``chmod`` over hundreds of paths: a long command line of short arguments."""
    count = rng.randint(50, 600)
    paths = [f"/var/www/html/cache/{rng.getrandbits(64):016x}.tmp" for _ in range(count)]
    return Proc(["rm", "-f", *paths] if rng.random() < 0.5 else ["chmod", "0640", *paths])
