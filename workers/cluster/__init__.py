"""Cluster mode: the embedded scan's stages as Celery tasks over Redis, results into ClickHouse.

Flow: ``producer.enqueue`` publishes chunks of domains on queue ``dns``. A DNS task runs
``workers.scan.batch.dns_stage`` on its chunk, claims each MX host for the scan in Redis (SET NX, so
one chunk owns a host), judges the hosts that need no probe at once, and sends the others as
STARTTLS tasks on queue ``smtp`` (the host's DNS evidence travels as JSON). A STARTTLS task probes
every address under a per-IP lease held in Redis (the cap holds across workers) and judges with
``workers.scan.batch.judge``. Both tasks push their rows (``workers.scan.rows``) to a Redis list;
``danescan writer`` drains that list into clickhouse-server in batches and removes what ClickHouse
accepted, so a ClickHouse outage only makes the list longer.

Performance model: one task carries hundreds of domains, so Celery's per-task cost (about 1.5 ms of
CPU) is small beside the DNS work; the writer is one process inserting thousands of rows per batch.
"""
