"""The grid worker's pages (/field): my grids, their buildings, households and residents, phone first."""
