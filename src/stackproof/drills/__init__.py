"""Drills: running a stack's operations scripts for real and measuring what they do.

`scripts` runs deploy/backup/restore/retention as cron would; `releases` makes good and
broken releases; `watch` samples a service's readiness and running release; `canary` writes
timestamped rows through a service; `tables` fingerprints a database per table; `restore`
runs the RTO/RPO drill; `timeline` and `stats` turn observations into figures and charts.
"""
