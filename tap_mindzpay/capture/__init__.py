"""Change capture: the state, the phases, and the records other streams get from them.

``codec`` (compact encodings: a status byte per id, packed columns), ``state`` (the
per-partition state, version 2, and the upgrade of version 1), ``statecheck`` (the ``--state``
input checked before any request), ``schedule`` (which records in flight a sync refreshes, and
what payments tell invoices), ``engine`` (the refresh and sweep phases), ``partition`` (how a
stream runs them) and ``derived`` (streams written while another syncs). At 1M invoices with
100,000 waiting, the last STATE (invoices and payments) is 1.5 MB.
"""
