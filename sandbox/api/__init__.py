"""Flask blueprints, one per resource of the Customer Management API."""
