"""Limits shared by every broker process: request rates (token buckets) and calls in flight (leases), kept in
the database or in Redis (`store.py`), and the limits the broker applies with them (`policies.py`)."""
