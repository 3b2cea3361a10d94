#!/usr/bin/env bash
# What `make test` needs beyond Python, checked before the suite starts so a
# missing tool fails in one second with its fix, not minutes in: the Ray group
# tests (tests/integration/) build network and PID namespaces; the monitoring
# tests run Prometheus's promtool and prometheus.
set -euo pipefail

problems=()
if [ "${EUID}" -ne 0 ]; then
  problems+=("run as root: the Ray group tests create network namespaces (ip netns) and PID namespaces (unshare)")
fi
for tool in ip unshare; do
  if ! command -v "${tool}" >/dev/null 2>&1; then
    problems+=("\`${tool}\` not found: apt-get install iproute2 util-linux (dnf install iproute util-linux)")
  fi
done
for tool in promtool prometheus; do
  if ! command -v "${tool}" >/dev/null 2>&1; then
    problems+=("\`${tool}\` not found: apt-get install prometheus (Debian/Ubuntu; or put the release's promtool and prometheus on PATH)")
  fi
done
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  problems+=("\`node\`/\`npm\` not found: Mermaid's parser (tests/mermaid) needs node >= 20: apt-get install nodejs npm")
elif [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  problems+=("node $(node --version) is too old: Mermaid's parser (tests/mermaid) needs node >= 20")
fi
if [ "${#problems[@]}" -eq 0 ]; then
  probe="vfprereq$$"
  if ! ip netns add "${probe}" 2>/dev/null; then
    problems+=("\`ip netns add\` is refused here (a container without CAP_SYS_ADMIN?): run the tests on a host or a privileged container")
  else
    ip netns del "${probe}"
  fi
fi

if [ "${#problems[@]}" -gt 0 ]; then
  echo "make test needs root and \`ip\`/\`unshare\` for the network-namespace tests, Prometheus's tools for the monitoring tests and node >= 20 for tests/mermaid:" >&2
  printf '  - %s\n' "${problems[@]}" >&2
  exit 2
fi
