"""Every Prometheus metric the bot exposes at `GET /metrics`, defined once, here.

Each process has its own counters (the web process counts acks, the worker the work after them):
Prometheus scrapes each process, on PORT for `serve` and `socket`, on MIDA_METRICS_PORT for
`worker`. The gauges of shared state (queues, pending approvals) are read from Redis at scrape time
(bot/web/metrics.py), so every process reports the same values: aggregate them with max().

Labels are small fixed sets — a kind, an outcome, an HTTP method, a route template, a Slack method
or error code — never a team, user, request or experiment id, and never a secret.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # a `_created` series beside every counter only doubles what is scraped

# Slack waits 3 s for an ack.
_ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Mida calls are bounded by MIDA_TOTAL_TIMEOUT_SECONDS (20 s by default).
_CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)

ACKS = Counter("mida_slack_acks", "Slack requests acknowledged, by kind (command, action, view, event, ...)", ["kind"])
ACK_SECONDS = Histogram(
    "mida_slack_ack_seconds", "From Bolt's dispatch to the ack, by kind", ["kind"], buckets=_ACK_BUCKETS
)
WORK = Counter(
    "mida_slack_work",
    "Listeners' work after the ack (from the lazy queue, or in the process that acked), by kind and outcome (ok, handled_error: the person was"
    " told what went wrong, unexpected_error)",
    ["kind", "outcome"],
)
WORK_SECONDS = Histogram(
    "mida_slack_work_seconds", "Duration of the work after the ack, by kind", ["kind"], buckets=_CALL_BUCKETS
)
LOCAL_WORK = Counter(
    "mida_slack_local_work",
    "Reads done after the ack in the process that acked, not queued (it had room; bot.slack.headroom)",
)
EXECUTIONS = Counter(
    "mida_slack_executions",
    "Changes executed against Mida, by outcome (succeeded, failed, superseded) and whether the outcome was"
    " settled by reading the experiment back (reconciled)",
    ["outcome", "reconciled"],
)
# Present at 0 from the start, so that the first failure is an increase that alert rules see.
for _outcome in ("succeeded", "failed", "superseded"):
    for _reconciled in ("true", "false"):
        EXECUTIONS.labels(_outcome, _reconciled)
MIDA_REQUESTS = Counter(
    "mida_slack_mida_requests",
    "HTTP requests to Mida (each attempt), by method, route template and status (the HTTP status, or no_answer)",
    ["method", "route", "status"],
)
MIDA_REQUEST_SECONDS = Histogram(
    "mida_slack_mida_request_seconds",
    "Duration of one HTTP request to Mida, by method and route template",
    ["method", "route"],
    buckets=_CALL_BUCKETS,
)
MIDA_BREAKERS = Gauge(
    "mida_slack_mida_breakers", "Mida projects by the state of their circuit breaker in this process", ["state"]
)
MIDA_BREAKER_OPENED = Counter(
    "mida_slack_mida_breaker_opened", "Times a project's circuit breaker opened (calls to Mida paused)"
)
SLACK_REQUESTS = Counter(
    "mida_slack_slack_api_requests", "Slack Web API requests (each attempt), by method", ["method"]
)
SLACK_ERRORS = Counter(
    "mida_slack_slack_api_errors",
    "Slack Web API requests that failed, by method and Slack's error code (or the connection error's type)",
    ["method", "error"],
)
SLACK_RATE_LIMITED = Counter(
    "mida_slack_slack_api_rate_limited", "Slack Web API requests answered 429 (rate limited), by method", ["method"]
)
QUEUE_LENGTH = Gauge(
    "mida_slack_queue_length", "Entries in a Redis queue not yet done (waiting or being worked on)", ["queue"]
)
QUEUE_OLDEST_AGE = Gauge(
    "mida_slack_queue_oldest_entry_age_seconds", "Age of the oldest entry not yet done (0 when empty)", ["queue"]
)
LOCAL_READS = Gauge(
    "mida_slack_local_reads",
    "Reads after the ack in this process: running, waiting in line for room (plain serve keeps its"
    " backlog of reads here, not in mida:lazy), or waiting_elsewhere for Mida or Slack, without a slot",
    ["state"],
)
APPROVALS_PENDING = Gauge("mida_slack_approvals_pending", "Change requests waiting for approval, every workspace")
