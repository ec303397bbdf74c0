#!/usr/bin/env bash
# Runs the arm64 agent (built by scripts/agent-cross.sh aarch64) under qemu-user on this
# machine: an emulated board for devices/examples/qemu-arm64.toml.
#
#   scripts/agent-qemu.sh start [AGENT ARGS...]   # default: --tcp 127.0.0.1:7879; waits until it listens
#   scripts/agent-qemu.sh stop                    # stops the one `start` began (by pid)
#
# qemu-aarch64 runs without `-L`: the binary's loader and libc come from Debian's multiarch
# packages (/lib/ld-linux-aarch64.so.1); with `-L /usr/aarch64-linux-gnu` the cross sysroot's
# loader meets that libc and the agent's first thread never starts. Its log and pid file go to
# target/cross/.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:-}
shift || true
agent=target/cross/aarch64-unknown-linux-gnu/release/edgenas-agent
pidfile=target/cross/qemu-arm64.pid
log=target/cross/qemu-arm64.log
case "$cmd" in
start)
  [ -x "$agent" ] || { echo "$0: no $agent; build it with scripts/agent-cross.sh aarch64" >&2; exit 1; }
  command -v qemu-aarch64 >/dev/null || { echo "$0: qemu-aarch64 is missing (Debian package qemu-user)" >&2; exit 1; }
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "$0: already running (pid $(cat "$pidfile")); stop it first" >&2
    exit 1
  fi
  [ $# -gt 0 ] || set -- --tcp 127.0.0.1:7879
  qemu-aarch64 -cpu cortex-a72 "$agent" "$@" >"$log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 100); do
    grep -q "listening\|serving" "$log" && { cat "$log"; exit 0; }
    kill -0 "$(cat "$pidfile")" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  echo "$0: the agent did not start within 10 s; its log: $log" >&2
  exit 1
  ;;
stop)
  [ -f "$pidfile" ] || exit 0
  pid=$(cat "$pidfile")
  # only the emulator `start` began: a stale pid may belong to another process by now
  if [ "$(ps -p "$pid" -o comm= 2>/dev/null)" = qemu-aarch64 ]; then
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid"
      sleep 0.2
    fi
  fi
  rm -f "$pidfile"
  ;;
*)
  echo "usage: $0 start [AGENT ARGS...] | stop" >&2
  exit 2
  ;;
esac
