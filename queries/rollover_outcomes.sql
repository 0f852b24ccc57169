-- rollover_outcomes: how key rollovers of DANE MX hosts went, per change and per MX host. Same
-- rules as rollovers.sql (methodology.md section 5; paper section 5.2: "87-92 % of MXs roll over
-- wrongly at least once; 72-84 % ignore the TTL"). A change is one (MX host, switch time), its
-- outcome the worst of the host's addresses.
-- dimension 'all' (every change), 'usage' (the usages of the TLSA RRset before the switch),
-- 'class' (SO / SSDO / SSDS / mixed / unknown of the domains the host serves): changes per
-- outcome; pct is the share among the judged changes of that value (NULL for short-ttl,
-- before-window and not-secure, which cannot be judged and are not in the denominator).
-- dimension 'hosts' (unit 'mx hosts'), the paper's headline per host: 'judged' MX hosts with at
-- least one judged change (the denominator), 'wrong-at-least-once' (a judged change that is not
-- correct), 'ignored-ttl' (a same-time or too-late change), 'not-judged' (changes, none judged).
-- Reads the view rollover_switches (queries/migrations/0016_chain_changes.sql), where the rules
-- live.
-- Parameters: since DateTime, until DateTime (snapshot times), threshold UInt32 (50).
WITH
events AS (
    SELECT host, outcome, usages, class,
           outcome NOT IN ('short-ttl', 'before-window', 'not-secure') AS judged
    FROM rollover_switches(since = {since:DateTime}, until = {until:DateTime}, threshold = {threshold:UInt32})
),
per_host AS (  -- one row per host: its changes, and its verdicts as a host (read once)
    SELECT groupArray((outcome, usages, class, judged)) AS ev,
           max(judged) AS any_judged,
           max(judged AND outcome != 'correct') AS wrong,
           max(outcome IN ('same-time', 'too-late')) AS ignored_ttl
    FROM events
    GROUP BY host
)
SELECT dimension, value, outcome, unit, changes,
       if(judged, round(100 * changes / sum(if(dimension = 'hosts', if(outcome = 'judged', changes, 0),
                                                if(judged, changes, 0))) OVER (PARTITION BY dimension, value), 2),
          NULL) AS pct
FROM (  -- one pass over the hosts (a UNION ALL of GROUP BYs would judge the changes again)
    SELECT d.1 AS dimension, d.2 AS value, d.3 AS outcome, d.4 AS judged,
           if(dimension = 'hosts', 'mx hosts', 'changes') AS unit, count() AS changes
    FROM per_host ARRAY JOIN arrayConcat(
        arrayMap(e -> ('all', '', e.1, e.4), ev),
        arrayMap(e -> ('usage', e.2, e.1, e.4), ev),
        arrayMap(e -> ('class', e.3, e.1, e.4), ev),
        arrayFilter(x -> x.4 OR x.3 = 'not-judged', [
            ('hosts', '', if(any_judged, 'judged', 'not-judged'), any_judged = 1),
            ('hosts', '', 'wrong-at-least-once', wrong = 1),
            ('hosts', '', 'ignored-ttl', ignored_ttl = 1)])) AS d
    GROUP BY dimension, value, outcome, judged
)
ORDER BY indexOf(['all', 'usage', 'class', 'hosts'], dimension), value,
         indexOf(['judged', 'wrong-at-least-once', 'ignored-ttl', 'not-judged'], outcome), outcome
