"""The executive web app (`reporting serve`): today's figures and open alerts, a live stream of
notifications, and every report in the archive, for the readers on each report's lists."""
