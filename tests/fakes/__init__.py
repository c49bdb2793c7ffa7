"""Test doubles and builders shared by several test folders: `from tests.fakes.cost import planned_asgs`."""
