"""Graders: a model endpoint applying a pinned policy version through a prompt template."""
