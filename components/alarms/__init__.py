"""Alarms and a dashboard as code: per region an SNS topic and its alarms, per environment one dashboard."""

from components.alarms.args import AlertsArgs, ClusterSignals, DashboardArgs, IngressSignals
from components.alarms.component import Alerts, Dashboard

__all__ = ["Alerts", "AlertsArgs", "ClusterSignals", "Dashboard", "DashboardArgs", "IngressSignals"]
