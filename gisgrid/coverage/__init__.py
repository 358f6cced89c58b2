"""Coverage analysis (横向到底、纵向到边): blind spots, overlaps, spill-over, slivers, orphans, load."""
