"""Pages Moonbase serves to people in a browser (outside the /v1 API)."""
