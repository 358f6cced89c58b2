"""Teams and accounts in the browser (/admin/teams, /admin/accounts): who answers for which grid."""
