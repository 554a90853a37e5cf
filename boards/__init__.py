"""Board definitions: one folder per board, each with a small `board.py` of data."""
