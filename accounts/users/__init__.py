"""User and role admin: admins list, create, change and deactivate accounts, audited."""
