"""`python -m reporting_assets.cli …` is `reporting …`."""

from reporting_assets.cli import main

main()
