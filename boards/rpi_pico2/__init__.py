"""Board package; the data is in board.py."""
