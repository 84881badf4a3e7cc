"""Framework-free data, metrics and reports shared by both backends."""
