#!/bin/sh
# Seed the root trust anchor, refresh it (RFC 5011 / IANA's root-anchors.xml via unbound-anchor),
# check the configuration, and run unbound in the foreground.
set -eu
key=/var/lib/unbound/root.key
if [ ! -s "$key" ]; then
    cp /usr/share/dns/root.key "$key"
fi
# exit status 1 means "the anchor was updated"; anything else is reported, not fatal: the
# seeded anchor and RFC 5011 keep working without it
unbound-anchor -a "$key" -v || echo "unbound-anchor exit status $? (the anchor in $key is kept)"
chown -R unbound:unbound /var/lib/unbound
unbound-checkconf /etc/unbound/unbound.conf
exec unbound -d -p -c /etc/unbound/unbound.conf
