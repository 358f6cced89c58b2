"""Map layers declared in files (``layers/``), served as GeoJSON, vector tiles and TileJSON: below
every page that draws them, whichever domain the page belongs to."""
