"""Importing users' own data: buildings, stationed units, shops and households from GeoJSON,
GeoPackage, Shapefile, CSV or Excel (``gisgrid import KIND FILE``; ``service.import_file``).

Kept empty of heavy imports so the CLI starts fast: use ``gisgrid.imports.service``.
"""
