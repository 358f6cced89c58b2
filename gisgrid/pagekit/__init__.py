"""The kit every map page is built from (coverage, the editor, the case heatmap, the residents'
form): the basemap, Leaflet and its plugins from the app itself, the frame, declared layers as
overlays, the language switch and the panel-and-script scaffolding. Below every domain with
pages, so each keeps its own page and none imports another's."""
