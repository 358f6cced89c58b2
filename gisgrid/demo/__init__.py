"""The demo sub-district: a deterministic, generated 街道 that looks like a real one."""
