"""The gateway's pure core: the multiplexed message format, the multiplexer and
demultiplexer state machines, and the routing table read from a routes file."""
