"""Organization members: list, show, change role, remove."""
