"""The environments: the typed config model, its loader, the program and the offline plan."""
