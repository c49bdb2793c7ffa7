"""The `rayfleet` command: argument parsing, error display and rendering; no business logic."""
