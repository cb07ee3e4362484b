"""The sans-IO protocol core: pure state machines, no sockets, clock or global randomness."""
