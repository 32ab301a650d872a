"""Associate Terminal: log customers' asks at the counter."""
