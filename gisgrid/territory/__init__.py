"""The sub-district (街道): the territory that grids must cover."""
