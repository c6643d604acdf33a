"""The incident side: alerts in (Alertmanager, Grafana, PagerDuty), runbooks out to the team's
channel, ``/kb`` in Slack and Teams, and runbook coverage per alert. Free of FastAPI and ``app``."""
