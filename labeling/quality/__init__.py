"""Quality: gold items, chance-corrected agreement, bias checks, review and dashboards."""
