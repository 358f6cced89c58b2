"""Reports over the case record and the grid workers' own record: the weekly summary (per grid,
community, sub-district or city) and the assessment (考核) per grid and per worker."""
