"""The n-body domain: force laws, a batched simulator, datasets (and later the GNN)."""
