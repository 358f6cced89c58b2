"""The map pages, and the HTTP of the declared layers (``gisgrid.layers``)."""
