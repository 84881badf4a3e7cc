"""Files written whole, and the neutral weights format."""
