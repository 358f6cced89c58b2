"""The HTTP application: app factory, landing page, health, API docs served offline."""
