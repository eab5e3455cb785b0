"""The read models, one module per publishing service. The consumer commits each handler's writes with its
inbox row (`consumers` ties the handlers to the events).

Every handler is order-tolerant and idempotent: a field is taken only from an event at least as new as the
one it came from (`domain.current`), facts that never change (a transition, an allocation, a credit note) are
keyed by their own identity and written once, and sums are recomputed from the stored facts, never added to.
"""
