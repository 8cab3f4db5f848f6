"""People who run tenants in the console (vendor accounts, their memberships) and operators who run the broker."""
