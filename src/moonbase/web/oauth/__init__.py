"""The OAuth authorization-code flow: consent pages and the token endpoint."""
