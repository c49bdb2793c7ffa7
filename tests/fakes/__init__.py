"""Doubles, builders and helpers that more than one test module uses; test modules share code only through here.

    from tests.fakes.cost import planned_asgs
    from tests.fakes.environments import ENVIRONMENTS, stack_config, write_stack

Fixtures defined here reach every test through `pytest_plugins` in tests/conftest.py, so a
test names them as arguments and imports nothing for them:

    def test_drill_against_moto(deployed):  # tests.fakes.route53_stack's fixture
        client, outputs = deployed

import-linter (pyproject.toml) keeps test modules and conftest files from importing each other.
"""
