"""The subscription plans the business sells, cheapest first, and the name of the row that
adds them up in every per-plan table."""

PLANS = ("starter", "growth", "scale", "enterprise")
TOTAL = "total"
