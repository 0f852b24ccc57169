-- Every column fed from the network or a file, the range of what can arrive, and how it is kept.
-- A value outside its column's range is never fatal: the column is wide enough by construction
-- (the bound is given), or the value is clamped and the row says so in its `clamped` column
-- ('column=exact value'; pure helper: workers/store/ranges.py). Booleans (UInt8 0/1), our own
-- clocks (queried_at, probed_at, *_ms, written_at), versions and Strings (any bytes) are left out.
--
-- domains.mx_preferences   Array(UInt16)  MX PREFERENCE is a 16-bit wire field: 0..65535, fits.
-- domains.error / bad_mx / bad_mx_reasons  (new) why the name or an MX target was refused.
-- dns_rrsets.rcode         Int16          RCODE + EDNS extended RCODE: 12 bits, -1 none: fits.
-- dns_rrsets.ttl           UInt32         32-bit wire TTL: fits.
-- dns_rrsets.rrsig_count   UInt16         RRSIGs of one response: a message is < 65536 octets and
--                                         an RRSIG RR >= 30 octets, so < 2200: fits.
-- dns_rrsets.attempts      UInt8 -> UInt32  datagrams/connections sent for one query: 1 + the
--                                         engine's retries setting + 1 TCP retry; a setting
--                                         above 254 overflowed UInt8. Now stored (was 0), with
--                                         queried_at and duration_ms, for failed queries too.
-- tlsa_records.usage/selector/mtype UInt8  8-bit wire fields: fit.
-- tlsa_records.ttl         UInt32         32-bit wire TTL or RRSIG Original TTL: fits.
-- starttls_probes.chain_truncated (new)   the server sent more certificates than were kept.
-- certificates.key_bits    UInt16 -> UInt32  RSA modulus bits: a certificate arrives in one TLS
--                                         handshake message (< 2^24 octets), so < 2^27 bits;
--                                         a 70,000-bit key overflowed UInt16.
-- certificates.not_before/not_after DateTime  X.509 dates span years 0000..9999; DateTime holds
--                                         1970..2106: clamped, exact value in `clamped` (new).
-- certificates.problems (new)             what cryptography could not read, and why ('public
--                                         key: UnsupportedAlgorithm: ...'), and the quirks it
--                                         read with a warning ('non-positive-serial').
-- dane_verdicts.matched_usage/selector/mtype Int16  TLSA fields 0..255, -1 none: fit.
-- dane_verdicts.matched_depth Int16 -> Int32  a depth in the presented chain (bounded by the
--                                         probe's max_chain_certs setting, and by the < 2^24
--                                         octets of a Certificate message) + 1 for a full anchor.
-- *.attempt                UInt16         the task's retry count, bounded by the task_retries
--                                         setting: fits.
ALTER TABLE certificates {{on_cluster}} MODIFY COLUMN key_bits UInt32;
ALTER TABLE certificates {{on_cluster}} ADD COLUMN problems Array(String) DEFAULT [];
ALTER TABLE certificates {{on_cluster}} ADD COLUMN clamped Array(String) DEFAULT [];
ALTER TABLE dns_rrsets {{on_cluster}} MODIFY COLUMN attempts UInt32;
ALTER TABLE dane_verdicts {{on_cluster}} MODIFY COLUMN matched_depth Int32;
ALTER TABLE starttls_probes {{on_cluster}} ADD COLUMN chain_truncated UInt8 DEFAULT 0;
ALTER TABLE domains {{on_cluster}} ADD COLUMN error String DEFAULT '';
ALTER TABLE domains {{on_cluster}} ADD COLUMN bad_mx Array(String) DEFAULT [];
ALTER TABLE domains {{on_cluster}} ADD COLUMN bad_mx_reasons Array(String) DEFAULT [];
