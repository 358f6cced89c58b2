"""The HTTP application: app factory, landing page, health, the auditors' log, API docs served offline."""
