"""The Celery app: configuration from workers.settings, JSON only, late acks."""

from __future__ import annotations

from celery import Celery
from kombu.entity import Queue

from workers.settings import Settings


def make_app(settings: Settings) -> Celery:
    app = Celery("danescan", broker=settings.redis_url, include=["workers.cluster.tasks"])
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],  # no pickle: a message cannot run code in the worker
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,  # a task is acknowledged when it ended, so a killed worker loses none
        task_reject_on_worker_lost=True,  # a pool child that died: the task goes back to the queue
        # a worker process runs a thread pool of chunks_in_flight threads feeding its one
        # pipeline (workers.cluster.stream): that many messages reserved, each acked when done
        worker_prefetch_multiplier=1,
        worker_max_tasks_per_child=1000,
        task_queues=[Queue(q, routing_key=q) for q in ("dns", "smtp")],  # type: ignore[no-untyped-call]
        task_default_queue="dns",
        # dns: chunks of domains; smtp: chunks of MX hosts (the hourly re-scan: TLSA, addresses,
        # STARTTLS per DANE host)
        task_routes={"danescan.dns_chunk": {"queue": "dns"},
                     "danescan.host_chunk": {"queue": "smtp"}},
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,  # must exceed the slowest task
            "unacked_restore_interval": settings.unacked_restore_interval,
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=settings.redis_retries,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return app


app = make_app(Settings.from_env())
