"""The data browser: a campaign's prompts, candidates, pairs and judgments in paged tables,
with filters, full-text search and bulk actions on pairs."""
