"""Tests of the stand-ins themselves (standins/): that they behave as the real services do."""
