"""The web dashboard: read-only pages at the ``html_url`` of organizations, databases and
branches, for the organizations' members (signed in with email and password)."""
