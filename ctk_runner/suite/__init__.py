"""The CTK-Customer-4.0.0 scenarios as pytest tests (``pytest --pyargs ctk_runner``)."""
