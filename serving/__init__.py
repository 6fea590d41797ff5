"""Serving: a TF Serving stand-in (REST and gRPC), its client, contract and playground."""
