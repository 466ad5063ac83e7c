"""Change capture: the state, the phases, and the records other streams get from them.

``state`` (the per-partition state and its codec), ``statecheck`` (the ``--state`` input
checked before any request), ``engine`` (the refresh and sweep phases), ``partition`` (how a
stream runs them) and ``derived`` (streams written while another syncs).
"""
