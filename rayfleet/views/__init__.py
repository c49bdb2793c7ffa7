"""Renderers: functions from a data model to a rich renderable."""
