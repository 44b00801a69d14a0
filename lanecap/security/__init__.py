"""Identity, roles and audit for the officer service and the lane nodes.

roles      Permission, the role -> permissions table, Principal, authorize()
users      argon2id passwords, TOTP second factor, lockout
tokens     write-only API tokens for lane nodes (stored hashed)
ratelimit  per-user search limit and unusual-volume flags
trail      the audit trail (hash chain in PostgreSQL, signed checkpoints)
errors     SecurityError and its subclasses
"""
