"""Campaigns: services (writes) and selectors (reads)."""
