#!/usr/bin/env bash
# The Debian packages of the lab, the oracles and the cluster tests (the list lives in the package).
exec bash "$(dirname "$0")/../lab/install-packages.sh" "$@"
