"""The HTTP wing: the one request path and what it needs.

The requester, the token (auth, token file, token reply), retries, the rate budget, the first
contact, the API's clock, and the redaction of every message.
"""
