"""Who may do what: staff accounts (password, optional second factor, lock-out), sessions and
API keys, and the roles scoped by the grid tree."""
