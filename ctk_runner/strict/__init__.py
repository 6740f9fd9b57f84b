"""The strict profile: what the spec requires beyond the kit.

``checks``: the extra checks on the kit's own requests (body shape, Location,
filters, PATCH applied, valid Customer, TMF Error); ``x1`` and ``x1_checks``:
folder X1, the TMF630 requests no build of the kit sends.
"""
