"""Cluster mode: the embedded scan's stages as Celery tasks over Redis, results into ClickHouse.

Flow: ``producer.enqueue`` publishes chunks of domains on queue ``dns`` (and the hourly re-scan,
chunks of DANE MX host names on queue ``smtp``). Every worker process runs one streaming pipeline
(``workers.scan.pipeline`` via ``workers.cluster.stream``): its Celery thread pool hands each task's
chunk to the pipeline's event loop, where DNS, STARTTLS and the DANE verdict run for thousands of
domains at once; the task ends (and is acknowledged) when its whole chunk is done and its rows are
pushed to a Redis list. Each MX host is owned by one chunk of the scan (HSETNX in Redis), STARTTLS
runs under per-IP leases held in Redis (the cap holds across workers). ``danescan writer`` drains
the list into clickhouse-server in batches and removes what ClickHouse accepted, so a ClickHouse
outage only makes the list longer (DANE hosts, whose verdict needs earlier certificates from
ClickHouse, wait as host tasks meanwhile). The work itself is kept in a ledger in Redis
(``workers.cluster.ledger``): a task message is only a ticket for a ledger entry, the entry goes
in the MULTI that pushes its rows, and a sweep in every worker publishes again the tickets that no
queue, no unacknowledged record and no live worker carries, so no chunk is lost whatever kombu
does; a scan ends only when its ledger is empty.

Performance model: one task carries hundreds of domains, so Celery's per-task cost (about 1.5 ms of
CPU) is small beside the DNS work; the writer is one process inserting thousands of rows per batch.
"""
