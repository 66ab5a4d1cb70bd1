"""Foley engines: the model seam. `base` holds the contract; one subpackage per engine."""
