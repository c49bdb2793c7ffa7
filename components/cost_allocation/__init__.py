"""Tags and budgets as code: cost-allocation tags activated account-wide and a monthly budget per environment."""

from components.cost_allocation.args import CostAllocationArgs
from components.cost_allocation.component import CostAllocation

__all__ = ["CostAllocation", "CostAllocationArgs"]
