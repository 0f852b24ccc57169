-- Bounds against tarpits and huge RRsets (workers/settings.py: max_mx_hosts, max_addresses).
-- domains.mx_hosts_cut: MX targets past the bound, in preference order; never looked up nor probed
-- (the MX RRset in dns_rrsets still lists them all; mx holds the ones kept).
-- dane_verdicts.addresses_cut: on the host's row (ip = ''), its A/AAAA addresses past the bound
-- per family, not probed (dns_rrsets still lists them all).
-- starttls_probes.inferred_from: the MX host whose probe of the same address timed out or was
-- refused before TLS; this row's outcome was taken from it without a connection ('' = probed).
ALTER TABLE domains {{on_cluster}} ADD COLUMN mx_hosts_cut UInt32 DEFAULT 0;
ALTER TABLE dane_verdicts {{on_cluster}} ADD COLUMN addresses_cut UInt32 DEFAULT 0;
ALTER TABLE starttls_probes {{on_cluster}} ADD COLUMN inferred_from String DEFAULT '';
