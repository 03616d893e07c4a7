"""The current user (GET /v1/user) and how users are rendered."""
