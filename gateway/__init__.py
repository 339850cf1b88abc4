"""fixgw: a FIX gateway with a learning order router."""
