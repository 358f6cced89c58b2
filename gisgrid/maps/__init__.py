"""Map layers declared in files, served as GeoJSON, vector tiles and map pages."""
