"""Organization teams and their members."""
