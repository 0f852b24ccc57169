#!/usr/bin/env bash
# Installs the Debian packages the lab, the oracles and the cluster tests need.
# Daemons are NOT started by the package scripts (policy-rc.d): the lab starts its own
# instances on its own loopback addresses, and a packaged nsd/unbound/postfix on 0.0.0.0:53/25
# would take the ports the lab needs.
set -euo pipefail
PKGS="nsd unbound pdns-server pdns-backend-sqlite3 unbound-anchor ldnsutils bind9-utils bind9-dnsutils dnsperf postfix clickhouse-server clickhouse-client openssl util-linux knot knot-dnsutils"
if [ "$(id -u)" != 0 ]; then
  echo "install-system-packages: must run as root (apt-get); run: sudo $0" >&2
  exit 1
fi
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  export DEBIAN_FRONTEND=noninteractive
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -q
  apt-get install -y -q --no-install-recommends $missing
  # Whatever a package script may have started anyway must not hold port 25 or 53. Only right
  # after an install: a lab (or a test's) that is running must not be killed by a later run.
  for d in postfix/master nsd unbound clickhouse-server pdns_server knotd; do
    pkill -x "$(basename $d)" 2>/dev/null || true
  done
fi
exit 0
