"""Inverter data in: the Fronius push (FTP), the Solar API poller and their parsers -> Measurement."""
