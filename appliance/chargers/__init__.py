"""Data out to the wallbox: the charger interface and one package per driver."""
