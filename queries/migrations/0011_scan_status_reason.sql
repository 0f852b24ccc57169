-- Why a scan ended as it did: for status 'incomplete', the damaged inputs (file, how far it was
-- read, what was wrong), one line each joined by '; '. Empty for a scan that read all its inputs.
-- 'incomplete' joins the status values of 0001: what could be read was scanned and stored.
ALTER TABLE scans {{on_cluster}} ADD COLUMN status_reason String DEFAULT '';
