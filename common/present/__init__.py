"""What people see: tables, figures, the HTML page, listings' source layout."""
