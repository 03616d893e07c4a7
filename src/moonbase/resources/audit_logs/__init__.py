"""The organization's audit log: every change made through the API, who made it, from where."""
