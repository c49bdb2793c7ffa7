"""Cost: the price catalog, the pre-deploy estimate, actuals and per-application allocation."""
