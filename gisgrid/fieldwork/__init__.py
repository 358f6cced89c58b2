"""A grid worker's own record: household visits and information checks (走访), and training (培训)."""
