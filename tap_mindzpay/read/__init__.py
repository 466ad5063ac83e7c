"""The read wing: list reading, knowing nothing of streams.

Offset paging guarded by ids, pages fetched ahead, newest-first reading, and child lists' first
pages fetched ahead.
"""
