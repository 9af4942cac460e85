"""What the operations scripts share: config, event log, service control, health, PostgreSQL.

Standard library only, so the scripts run with any Python 3.11 on a server (`python3
deploy.py ...`) and from cron or CI.
"""
