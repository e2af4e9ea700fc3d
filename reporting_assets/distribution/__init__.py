"""Distribution: getting a finished report to the people on its list, exactly once each.

`ledger` records every delivery (one row per report, period, channel and target) in the app
database; `email` finalizes the executive email per recipient and sends it by SMTP or writes it to
the local outbox. Plain Python, no Dagster: the assets call these functions.
"""
