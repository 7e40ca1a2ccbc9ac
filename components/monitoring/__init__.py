"""Monitoring: how each day's data and models moved (drift reports, dashboards)."""
