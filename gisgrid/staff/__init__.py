"""Staff and their roles on grids (网格长, 网格员, 协管员 …): one lead per grid."""
