"""MQTT 3.1.1 and 5.0 for the hub: the sans-I/O codec, its packets, properties and reason codes."""
