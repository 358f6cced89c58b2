"""Keeping the ledger (台帐) current: every record created, changed, moved and ended with its
version, its history and an audit row; the ledger as of any moment."""
