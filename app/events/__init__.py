"""The event catalogue: every outbox event's type, payload, builder and audience.

Services build events here; app/repositories/events.py is the one writer into the outbox;
webhooks (and later the live feed) read them back. Nothing here does I/O.
"""
