"""TMF629 v5.0.1: the model rules (``Customer_FVO``, ``Customer_MVO``, ``Customer``) and
the conversion of v4.0.0 customers, as plain functions over ``schemas.v5``."""
