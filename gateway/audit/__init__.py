"""ATNA on the gateway side: the durable audit trail (hash-chained), its outbox and syslog forwarding."""
