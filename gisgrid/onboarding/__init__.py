"""Bringing a real sub-district in and out: its boundary from a file, the readiness check, and an
export the imports read back. Sits over every domain it reads (grids, coverage, registry, staff)."""
