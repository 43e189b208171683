#!/usr/bin/env bash
# Installs what Flowlens needs on a fresh Debian machine (as root), then builds everything.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: command or file -> package.
need=()
check() { if ! command -v "$1" >/dev/null 2>&1 && [ ! -e "$1" ]; then need+=("$2"); fi; }
check clang clang
check llvm-strip llvm
check bpftool bpftool
check /usr/include/bpf/libbpf.h libbpf-dev
check /usr/include/libelf.h libelf-dev
check /usr/include/zlib.h zlib1g-dev
check make make
check gcc gcc
check ip iproute2
check iptables iptables
check iptables-legacy iptables
check conntrack conntrack
check modprobe kmod
check ping iputils-ping
if [ "${FLOWLENS_SKIP_E2E_DEPS:-}" != 1 ]; then
  check chromium chromium
  check rg ripgrep
  check pkg-config pkg-config
  check /usr/include/krb5.h libkrb5-dev
  check g++ g++
  check python3 python3
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${need[*]} (run as root, or install them with apt-get)" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# npm packages, only when package-lock.json changed since the last install.
stamp=node_modules/.flowlens-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

echo "setup: building"
node scripts/build.mjs
make -s -C bpf
make -s -C src/sandbox/native
