"""The annotation workflow: claim a pair, judge it, skip or flag it, edit past judgments."""
