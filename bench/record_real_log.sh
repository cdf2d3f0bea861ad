#!/usr/bin/env bash
# Record a real audit log: auditd (Debian's package) writes ENRICHED records of a workload to OUT.
#
#   sudo bench/record_real_log.sh OUT_DIR -- COMMAND [ARGS...]
#
# Rules: every execve, connect, renames and unlinks under /tmp, and opens under /etc (what a host
# audited with -S execve and a few watches writes). The kernel's rules in force before are saved and
# put back at the end; the auditd started here uses its own configuration and log, so an auditd
# already running must be stopped first (the kernel takes one audit daemon at a time).
set -euo pipefail
out=${1:?usage: record_real_log.sh OUT_DIR -- COMMAND [ARGS...]}
shift
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "record_real_log.sh: no workload command given" >&2; exit 2; }
if pgrep -x auditd >/dev/null; then
  echo "record_real_log.sh: an auditd is running; stop it first" >&2
  exit 1
fi
mkdir -p "$out/plugins.d"
saved=$(mktemp)
auditctl -l > "$saved"
cat > "$out/auditd.conf" <<CONF
log_file = $out/audit.log
log_format = ENRICHED
flush = INCREMENTAL_ASYNC
freq = 50
max_log_file = 4096
max_log_file_action = ROTATE
num_logs = 2
space_left = 10
space_left_action = IGNORE
admin_space_left = 5
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
plugin_dir = $out/plugins.d
CONF
restore() {
  pkill -x auditd || true
  auditctl -D >/dev/null
  grep -v '^No rules' "$saved" | while read -r rule; do auditctl $rule >/dev/null; done
  rm -f "$saved"
}
trap restore EXIT
auditctl -D >/dev/null
auditctl -b 16384 >/dev/null
auditctl -a always,exit -F arch=b64 -S execve -k exec
auditctl -a always,exit -F arch=b64 -S connect -k net
auditctl -a always,exit -F arch=b64 -S unlinkat,renameat,renameat2 -F dir=/tmp -k tmpchg
auditctl -a always,exit -F arch=b64 -S openat -F dir=/etc -k etc
auditd -c "$out"
sleep 1
"$@" || echo "record_real_log.sh: the workload exited with status $?" >&2
sleep 2  # auditd flushes what the kernel still holds
echo "record_real_log.sh: $(wc -l < "$out/audit.log") lines in $out/audit.log" >&2
