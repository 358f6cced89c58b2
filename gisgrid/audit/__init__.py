"""The audit log: append-only, enforced by the database."""
