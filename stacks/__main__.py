"""Pulumi's entry point (`main: stacks/` in Pulumi.yaml): `pulumi up --stack prod` runs this.

The environment comes from Pulumi's config for the selected stack
(`stacks/Pulumi.<stack>.yaml`), validated by the same model the CLI uses.
"""

import pulumi

from components.errors import RayfleetError
from stacks.loader import config_keys, parse_environment
from stacks.program import build


def _load():
    config = pulumi.Config("rayfleet")
    values = {key: config.get_object(key) for key in config_keys()}
    values = {key: value for key, value in values.items() if value is not None}
    try:
        return parse_environment(
            pulumi.get_stack(),
            values,
            aws_region=pulumi.Config("aws").get("region"),
            source=f"stack '{pulumi.get_stack()}' config",
        )
    except RayfleetError as err:
        # RunError is reported by the engine as a message, without a Python traceback.
        raise pulumi.RunError(str(err)) from None


build(_load())
