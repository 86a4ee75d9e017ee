"""Application records: CSV import from the welfare system, second-factor verification with lockout,
and the wording of each status for residents."""
