"""Imported last by the fork server: move everything imported so far out of the garbage collector's
view (gc.freeze), so that chain processes forked from it neither rescan nor copy-on-write those objects
when they collect. Chains collect before their leak check; with this, that costs microseconds."""

import gc

gc.collect()
gc.freeze()
