"""The small core every domain stands on: settings, database, errors, geometry, secrets."""
