"""Grids (网格): three levels under a sub-district, with hierarchical codes and full history."""
