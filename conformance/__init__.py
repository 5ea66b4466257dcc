"""Projectathon-style conformance checks, aimed at any XDS.b endpoint URL (ours or a tester's)."""
