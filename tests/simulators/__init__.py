"""Tests of the LP simulator, the market process and the OMS simulator."""
