"""Webhook delivery: Standard Webhooks signing, target checks, and the outbox relay."""
