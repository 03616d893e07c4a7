"""Webhook deliveries: what may be sent where (``policy``), queueing an event in the change's own
transaction (``outbox``), and the worker that sends queued events after commit (``delivery``).

The API resource (``moonbase.resources.webhooks``) manages the webhooks themselves.
"""
