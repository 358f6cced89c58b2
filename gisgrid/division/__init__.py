"""Automatic division (合理划分): propose grids of a band of households that follow streets, keep
buildings whole and nest in their parents, or re-balance only the grids out of band; a proposal
is a layer the grid import adopts as one reviewed change."""
