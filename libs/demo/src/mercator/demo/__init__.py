"""`mercator demo`: fills an empty Mercator through its public API (the gateway) with a believable company
(`fill` tells how)."""
