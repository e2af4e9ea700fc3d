"""Concurrency pools: the outside services that many runs at once must not overload.

An asset that talks to one of them names its pool (`pool=`); Dagster then lets at most the
pool's limit of such steps run at once across every run on the instance, and the run queue
holds back runs that could only wait for a slot. Dagster 1.13 takes one limit for all pools
from `dagster.yaml` (`concurrency: pools: default_limit`, 1 in `deploy/dagster.yaml`); a pool's
own limit is stored on the instance, and `reporting pools --apply` writes the ones below
(what `dagster instance concurrency set <pool> <limit>` does one at a time).
"""

POSTHOG_API = "posthog_api"
WAREHOUSE = "warehouse"
SMTP_RELAY = "smtp_relay"
SLACK = "slack_webhook"
TEAMS = "teams_webhook"
REPORT_WEBHOOK = "report_webhook"

# What a pool nobody configured gets: deploy/dagster.yaml's `pools: default_limit`.
DEFAULT_LIMIT = 1

POOL_LIMITS = {
    # One day's events at a time, from the Query API or the export: PostHog's HogQL API has a
    # small per-team query budget, shared with the analysts' own queries, and a day of events is
    # the heaviest step in memory (bench/RESULTS.md, source stage).
    POSTHOG_API: 1,
    # Two reads at once across all runs: two runs of the multiprocess executor (two steps each on
    # two cores) would otherwise read four views at once; a PostgreSQL warehouse sees at most
    # two sessions from us, and the day's ten small reads still go two by two.
    WAREHOUSE: 2,
    # One SMTP session at a time: a relay throttles concurrent connections per client long
    # before 45 messages a second (one session, bench/RESULTS.md) is too slow for our lists.
    SMTP_RELAY: 1,
    # Chat and webhook receivers accept about one message a second per URL; one of our
    # deliveries is one POST, so one at a time per service never waits long.
    SLACK: 1,
    TEAMS: 1,
    REPORT_WEBHOOK: 1,
}

# The pool of each delivery channel that talks to an outside service (the dashboard feed is
# our own database: no pool).
CHANNEL_POOLS = {"email": SMTP_RELAY, "slack": SLACK, "teams": TEAMS, "webhook": REPORT_WEBHOOK}
