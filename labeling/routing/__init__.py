"""Routing of human work: which pairs annotators get first, and which need none."""
