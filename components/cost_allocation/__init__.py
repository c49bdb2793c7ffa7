"""Tags and budgets as code: a monthly budget per environment; cost-allocation tags activated once per account."""

from components.cost_allocation.args import CostAllocationArgs
from components.cost_allocation.component import CostAllocation

__all__ = ["CostAllocation", "CostAllocationArgs"]
