"""torch's CPU random streams replayed in numpy: initial weights and the book's batch plan."""
