"""Cases (事件): reported at a point, classified, followed from report to closure."""
