"""The case desk (/desk): every role's inbox of cases, the case page with its timeline and the
buttons for the steps the workflow allows the caller now, the field report form, and the
supervisors' overdue views. The pages read through the cases' scoped services and act through
the cases' HTTP API from the page's script, so they refuse exactly as the API does."""
