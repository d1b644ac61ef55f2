from __future__ import annotations


class CatalogError(ValueError):
    """A catalog change that cannot be made; the message says why and names what is involved."""
