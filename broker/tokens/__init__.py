"""Service tokens from platforms for tenant tools: the grant, its shared cache, and registration verification."""
