"""Writing the stack outputs model from inside the program, where its values are still Pulumi outputs.

    region = resolved(RegionOutputs, vpc_id=network.vpc_id, primary=True, ...)   # Output[RegionOutputs]
    export_model(StackOutputs, env="prod", primary_region="us-east-1", regions={"us-east-1": region})

A model cannot hold a value that is not known yet, so `resolved` builds it
once every value has resolved (under `pulumi up`, after the resources exist):
the outputs are validated by the same model that every reader parses them
with. The keys come from the model's fields, never from a literal; a field
name the model lacks fails at once, while the program runs.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pulumi

from stacks.outputs_model import OutputsModel

M = TypeVar("M", bound=OutputsModel)


def resolved(model: type[M], **fields: Any) -> pulumi.Output[M]:
    """`model(**fields)` once the Pulumi outputs among `fields` (nested in lists and dicts too) resolve."""
    unknown = sorted(set(fields) - set(model.model_fields))
    if unknown:
        raise TypeError(f"{model.__name__} has no field {', '.join(unknown)}")
    return pulumi.Output.all(**fields).apply(lambda values: model(**values))


def export_model(model: type[OutputsModel], **fields: Any) -> None:
    """Export `model(**fields)` as stack outputs: one output per field that has a value, named by its key."""
    outputs = resolved(model, **fields)
    for name, value in fields.items():
        if value is None:
            continue  # an absent key, as in the model (`failover` without DNS failover)
        key = model.model_fields[name].alias or name
        pulumi.export(key, outputs.apply(lambda m, key=key: m.to_json()[key]))
