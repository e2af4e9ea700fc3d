"""The app database's records, as plain classes over SQLAlchemy: the delivery ledger, the
dashboard feed, reviews and acknowledgements. Reports write them when they render, distribution
when it sends, and analytics read them (decision speed)."""
