"""The run wing: what every stream of a run shares and reports.

Progress, the run summary, stopping on a signal, the STATE cadence, and the launcher of the
embedded sandbox.
"""
