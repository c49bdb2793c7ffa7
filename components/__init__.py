"""Pulumi ComponentResources, and the agents the clusters run on their nodes."""
