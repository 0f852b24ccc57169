"""The chunk ledger's pure parts: which entries no message carries, and the tickets' ids."""

from __future__ import annotations

import json

from workers.cluster import ledger


def test_an_entry_is_republished_only_after_two_looks_a_grace_apart() -> None:
    entries = {"s": ["c0", "c1", "c2", "c3", "c4"]}
    holders = {"s": {"c2": "alive", "c3": "dead"}}
    present = {ledger.task_id("s", "c0")}  # c0's ticket is in a queue or unacknowledged
    first = ledger.judge(entries, holders, {"alive"}, present, {}, now=100.0, grace=3.0)
    # c1 (no message, no holder) and c3, c4 (holder dead / none) are suspects, none due yet
    assert first.republish == [] and first.missing == 3
    assert first.suspects == {"s\tc1": 100.0, "s\tc3": 100.0, "s\tc4": 100.0}
    present.add(ledger.task_id("s", "c4"))  # c4's ticket turned up (a consumer's moment)
    early = ledger.judge(entries, holders, {"alive"}, present, first.suspects, 102.9, 3.0)
    assert early.republish == [] and early.suspects == {"s\tc1": 100.0, "s\tc3": 100.0}
    due = ledger.judge(entries, holders, {"alive"}, present, early.suspects, 103.0, 3.0)
    assert due.republish == [("s", "c1"), ("s", "c3")] and due.suspects == {}
    # a suspect that went away and came back starts its grace again
    again = ledger.judge(entries, holders, {"alive"}, {ledger.task_id("s", e) for e in
                                                       ("c0", "c1", "c4")},
                         due.suspects, 104.0, 3.0)
    assert again.suspects == {"s\tc3": 104.0}


def test_a_dead_holders_chunk_comes_back_even_while_kombu_keeps_its_message() -> None:
    entries = {"s": ["c0", "c1", "c2"]}
    holders = {"s": {"c0": "dead", "c1": "dead"}}
    unacked = {ledger.task_id("s", e) for e in entries["s"]}  # all three unacknowledged
    queued = {ledger.task_id("s", "c1")}  # c1's ticket is back in a queue (restored or again)
    first = ledger.judge(entries, holders, set(), queued, {}, 10.0, 3.0, unacked)
    # c0: its worker died, kombu still holds its message until the visibility timeout: missing;
    # c2: nobody holds it yet, its message is with a consumer: carried
    assert first.missing == 1 and first.suspects == {"s\tc0": 10.0}
    assert ledger.judge(entries, holders, set(), queued, first.suspects, 13.0, 3.0,
                        unacked).republish == [("s", "c0")]


def test_tickets_carry_no_payload_and_ids_are_read_back() -> None:
    entry, spec = ledger.chunk_entry("scan", 7, ["a.example.", ["b.example.", ["ns."], 1]])
    assert entry == "c7"
    name, args, kwargs, queue = ledger.ticket(spec)
    assert (name, args, kwargs, queue) == ("danescan.dns_chunk", ["scan", 7, 2, None], {}, "dns")
    entry, spec = ledger.deferred_entry("scan", "c7", ["mx1.example", "mx2.example"])
    assert entry.startswith("c7.deferred.") and spec["kwargs"] == {"counted": False,
                                                                     "entry": entry}
    assert ledger.deferred_entry("scan", "c7", ["mx1.example"])[0] != entry  # one per group
    message = {"body": "e30=", "headers": {"id": "scan:c7", "task": "danescan.dns_chunk"},
               "properties": {}}
    assert ledger.message_id(json.dumps(message)) == "scan:c7"
    assert ledger.unacked_id(json.dumps([message, "", "dns"])) == "scan:c7"
    for junk in (b"", b"not json", b"[]", b"{}", b'{"headers": 3}', b'{"headers": {"id": 5}}'):
        assert ledger.message_id(junk) is None and ledger.unacked_id(junk) is None
    assert ledger.queue_keys(["dns"]) == ["dns", "dns\x06\x163", "dns\x06\x166", "dns\x06\x169"]
