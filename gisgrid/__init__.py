"""gisgrid: grid-based community management (网格化管理) on PostGIS."""

__version__ = "0.1.0"
